"""The one error hierarchy of finanalytics.

Every error meant for a user is an :class:`AnalyticsError` with a stable ``code``.
The CLI maps codes to exit codes in one place (``finanalytics_cli.exit_codes``).
Messages never contain secrets (keys, passphrases).
"""

from __future__ import annotations

from typing import Any


class AnalyticsError(Exception):
    """Something went wrong that the user can understand and act on."""

    code = "ANALYTICS_ERROR"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retryable: bool | None = None,
        fallback_strategy: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if retryable is not None:
            self.retryable = retryable
        self.fallback_strategy = fallback_strategy

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "retryable": self.retryable,
            "fallback_strategy": self.fallback_strategy,
        }


class InsufficientData(AnalyticsError):
    """There is not enough data to answer this question yet."""

    code = "INSUFFICIENT_DATA"


class ModelUnavailable(AnalyticsError):
    """No usable model of this type is trained or deployed."""

    code = "MODEL_UNAVAILABLE"


class PredictionFailed(AnalyticsError):
    """A model failed while predicting."""

    code = "PREDICTION_FAILED"


class FeatureExtractionFailed(AnalyticsError):
    """Features could not be computed from the stored data."""

    code = "FEATURE_EXTRACTION_FAILED"


class PrivacyViolation(AnalyticsError):
    """The request would break a privacy guarantee (e.g. exceed the DP budget)."""

    code = "PRIVACY_VIOLATION"


class RateLimitExceeded(AnalyticsError):
    """The operation ran more often than configured."""

    code = "RATE_LIMIT_EXCEEDED"
    retryable = True


class InvalidInput(AnalyticsError):
    """An argument, option or input file is not valid."""

    code = "INVALID_INPUT"


class StoreLocked(AnalyticsError):
    """Another finanalytics process is using the store."""

    code = "STORE_LOCKED"
    retryable = True


class KeyUnavailable(AnalyticsError):
    """The key that unlocks the store is missing, wrong or cannot be obtained."""

    code = "KEY_UNAVAILABLE"


class StoreCorrupt(AnalyticsError):
    """The store or its key file is damaged or is not a finanalytics store."""

    code = "STORE_CORRUPT"


class SchemaTooNew(AnalyticsError):
    """The store was written by a newer finanalytics; upgrade to open it."""

    code = "SCHEMA_TOO_NEW"


class StoreUnwritable(AnalyticsError):
    """The store's directory cannot be written."""

    code = "STORE_UNWRITABLE"


class StoreNotFound(AnalyticsError):
    """There is no store for this profile yet (run `finanalytics init`)."""

    code = "STORE_NOT_FOUND"


class EncryptionUnavailable(AnalyticsError):
    """Secure encryption support is missing on this platform; nothing is written."""

    code = "ENCRYPTION_UNAVAILABLE"
