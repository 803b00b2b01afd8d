from growthloop.core.errors import Conflict, Invalid, NotFound


class PartnershipNotFound(NotFound):
    code = "partnership_not_found"
    message = "No alliance partnership has this id."


class InvalidPartner(Invalid):
    code = "invalid_partner"
    message = "A merchant cannot be its own alliance partner."


class PartnershipExists(Conflict):
    code = "partnership_exists"
    message = "These two merchants already have an open partnership; end it to agree anew."


class AwaitingPartner(Conflict):
    code = "awaiting_partner"
    message = "The partner merchant accepts a proposal, not the merchant that made it."


class PartnershipStateConflict(Conflict):
    code = "partnership_state_conflict"
    message = "The partnership's status does not allow this."


class SuspendedByPartner(Conflict):
    code = "suspended_by_partner"
    message = "Only the merchant that suspended the partnership may resume it."


class PartnershipNotActive(Conflict):
    code = "partnership_not_active"
    message = "This partnership is not active."


class NoLinkedMember(Conflict):
    code = "no_linked_member"
    message = (
        "You are not known at the partner merchant yet: sign in there with the same account, "
        "or verify the same phone number at both."
    )


class PointsNotConvertible(Invalid):
    code = "points_not_convertible"
    message = "These points do not convert to whole partner points; use a multiple of the step."


class DailyCapReached(Conflict):
    code = "daily_cap_reached"
    message = "Today's exchange allowance of this partnership is used up."


class MemberDailyCapReached(Conflict):
    code = "member_daily_cap_reached"
    message = "You have exchanged as many points today as one member may."


class InvalidPeriod(Invalid):
    code = "invalid_period"
    message = "The period must run forwards and span at most 366 days."
