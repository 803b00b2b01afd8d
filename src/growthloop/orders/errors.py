from growthloop.core.errors import Conflict, Invalid, NotFound, ServiceUnavailable


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = "No order has this id."


class OrderNotPayable(Conflict):
    code = "order_not_payable"
    message = "Only an order pending payment can be paid."


class OrderExpired(Conflict):
    code = "order_expired"
    message = "The payment window of this order has ended."


class InvalidTransition(Conflict):
    code = "invalid_state"
    message = "The order's status does not allow this."


class RefundNeedsOperator(Conflict):
    code = "refund_needs_operator"
    message = "A completed order can only be refunded by the store; please ask the staff."


class CodeNotFound(NotFound):
    code = "code_not_found"
    message = "No order has this verification code."


class AlreadyRedeemed(Conflict):
    code = "already_redeemed"
    message = "This code was already redeemed."


class InvalidDateRange(Invalid):
    code = "invalid_date_range"
    message = "`from` must not be after `to`."


class InvalidPickupCode(Invalid):
    code = "invalid_pickup_code"
    message = "A pickup code is the order's pickup number: digits only."


class CodeCollision(ServiceUnavailable):
    code = "try_again"
    message = "A one-in-a-trillion code collision; the platform's retry will succeed."
