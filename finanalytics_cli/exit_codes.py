"""Error codes -> process exit codes. The one place that decides them (see README)."""

from __future__ import annotations

SUCCESS = 0
UNEXPECTED = 1  # a bug
USAGE = 2  # Typer/Click usage error
ALERT_FOUND = 10  # `--fail-on` found an alert
PARTIAL_IMPORT = 18  # `import` of several files: some imported, some failed
INTERRUPTED = 130

EXIT_CODES: dict[str, int] = {
    "INSUFFICIENT_DATA": 3,
    "MODEL_UNAVAILABLE": 4,
    "PREDICTION_FAILED": 5,
    "FEATURE_EXTRACTION_FAILED": 6,
    "PRIVACY_VIOLATION": 7,
    "RATE_LIMIT_EXCEEDED": 8,
    "INVALID_INPUT": 9,
    "STORE_LOCKED": 11,
    "KEY_UNAVAILABLE": 12,
    "STORE_CORRUPT": 13,
    "SCHEMA_TOO_NEW": 14,
    "STORE_UNWRITABLE": 15,
    "STORE_NOT_FOUND": 16,
    "ENCRYPTION_UNAVAILABLE": 17,
}


def exit_code_for(code: str) -> int:
    """The exit code of an AnalyticsError code (1 for anything unknown)."""
    return EXIT_CODES.get(code, UNEXPECTED)
