"""Keys and encryption, differential privacy, audit log and retention.

Never imports typer or rich.
"""
