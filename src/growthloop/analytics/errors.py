from __future__ import annotations

from growthloop.core.errors import AppError, Conflict, Invalid, NotFound, Unauthenticated


class InvalidIngestKey(Unauthenticated):
    code = "invalid_ingest_key"
    message = "A valid ingest key is required (X-Ingest-Key header or the body's api_key)."


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    message = "The batch is too large."


class UndecodableBatch(Invalid):
    code = "invalid_batch"
    message = "The body could not be decoded."


class InvalidRange(Invalid):
    code = "invalid_range"
    message = "The date range is invalid."


class RuleNotFound(NotFound):
    code = "alert_rule_not_found"
    message = "No such alert rule."


class RuleConflict(Conflict):
    code = "alert_rule_conflict"
