from growthloop.core.errors import Conflict, Forbidden, Invalid, NotFound


class BargainNotFound(NotFound):
    code = "bargain_not_found"
    message = "No bargain has this id."


class InstanceNotFound(NotFound):
    code = "bargain_instance_not_found"
    message = "No bargain instance has this id."


class CannotHelpSelf(Conflict):
    code = "cannot_help_self"
    message = "Share the bargain with friends: its owner cannot cut it."


class AlreadyHelped(Conflict):
    code = "already_helped"
    message = "You have already helped this bargain."


class DailyHelpLimit(Conflict):
    code = "daily_help_limit"
    message = "You have helped as many bargains as one member may today."


class FloorReached(Conflict):
    code = "floor_reached"
    message = "This bargain is already at its lowest price."


class InstanceExpired(Conflict):
    code = "bargain_expired"
    message = "This bargain has expired."


class InstanceNotOpen(Conflict):
    code = "bargain_not_open"
    message = "This bargain has already been bought."


class NotTheOwner(Forbidden):
    code = "not_the_owner"
    message = "Only the member who started this bargain can buy it."


class AlreadyEnded(Conflict):
    code = "bargain_ended"
    message = "This bargain campaign has already ended."


class OriginalPriceAboveRegular(Invalid):
    """A bargain starts from the product's price or below: a higher "original" price
    would show members a saving they do not get (虚构原价)."""

    code = "original_price_above_regular"
    message = "A bargain's original price must not be above the product's regular price."
