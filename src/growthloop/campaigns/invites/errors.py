from growthloop.core.errors import Conflict, NotFound


class InviteRuleNotFound(NotFound):
    code = "invite_rule_not_found"
    message = "No invite rule has this id."


class AlreadyEnded(Conflict):
    code = "invite_rule_ended"
    message = "This invite rule has already ended."
