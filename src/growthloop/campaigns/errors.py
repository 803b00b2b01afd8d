"""Errors every campaign answers with; each campaign adds its own beside them."""

from growthloop.core.errors import Conflict, Invalid


class NotStarted(Conflict):
    code = "not_started"
    message = "This campaign has not started yet."


class Ended(Conflict):
    code = "ended"
    message = "This campaign has ended."


class InvalidCampaign(Invalid):
    code = "invalid_campaign"
    message = "The campaign is not valid."


class PriceNotBelowRegular(Invalid):
    """A flash sale's or a group's price at or above the product's own: no deal at all."""

    code = "price_not_below_regular"
    message = "A campaign price must be below the product's regular price."
