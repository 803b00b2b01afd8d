from growthloop.core.errors import Conflict, Invalid, NotFound


class FlashSaleNotFound(NotFound):
    code = "flash_sale_not_found"
    message = "No flash sale has this id."


class PerOrderLimitExceeded(Invalid):
    code = "per_order_limit_exceeded"
    message = "One purchase may not take this many units."


class AlreadyEnded(Conflict):
    code = "flash_sale_ended"
    message = "This flash sale has already ended."
