"""finanalytics: local-first personal financial analytics."""

__version__ = "0.1.0"
