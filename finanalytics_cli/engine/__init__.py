"""The finanalytics library: store, ingest, features, models and analytics.

Never imports typer or rich: the CLI is one client of this API.
"""
