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
