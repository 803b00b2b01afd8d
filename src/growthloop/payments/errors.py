from growthloop.core.errors import BadRequest, Conflict, Invalid, NotFound, Unauthenticated


class ProviderNotEnabled(Invalid):
    code = "provider_not_enabled"
    message = "This payment provider is not enabled."


class UnknownProvider(NotFound):
    code = "unknown_provider"
    message = "No enabled payment provider has this name."


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    message = "No payment has this id."


class InvalidSignature(Unauthenticated):
    code = "invalid_signature"
    message = "The notification's signature does not verify."


class MalformedNotification(BadRequest):
    code = "malformed_notification"
    message = "The notification cannot be read."


class StaleNotification(BadRequest):
    code = "stale_notification"
    message = "The notification is too old or from the future; it may be a replay."


class DuplicateNotification(Conflict):
    code = "notification_already_processed"
    message = "This notification was already processed."


class AmountMismatch(BadRequest):
    code = "amount_mismatch"
    message = "The notified amount differs from the payment's amount."


class PaymentNotPending(Conflict):
    code = "payment_not_pending"
    message = "This payment can no longer succeed."


class RefundTooLarge(Conflict):
    code = "refund_exceeds_payment"
    message = "The refund would exceed what was paid."


class ProviderError(Exception):
    """The provider failed or is unreachable; the operation is retried later."""
