from growthloop.core.errors import Invalid


class UnknownTier(Invalid):
    code = "unknown_tier"
    message = "The loyalty programme has no tier of this name."
