from __future__ import annotations

from growthloop.core.errors import (
    AppError,
    Conflict,
    Invalid,
    NotFound,
    ServiceUnavailable,
    Unauthenticated,
)


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


class EventStoreUnavailable(ServiceUnavailable):
    """The event store could not write the batch (a full disk, an unreachable ClickHouse):
    nothing of it is stored or remembered, so the SDK's retry is taken whole."""

    code = "event_store_unavailable"
    message = "The events could not be stored right now; send them again."


class InvalidRange(Invalid):
    code = "invalid_range"
    message = "The date range is invalid."


class RuleNotFound(NotFound):
    code = "alert_rule_not_found"
    message = "No such alert rule."


class RuleConflict(Conflict):
    code = "alert_rule_conflict"
