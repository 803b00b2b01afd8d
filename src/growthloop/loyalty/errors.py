from growthloop.core.errors import Conflict, Invalid


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    message = "Not enough points."


class PointsLocked(Conflict):
    code = "points_locked"
    message = "Your points balance is negative after a refund; earn points before spending."


class PointsCapExceeded(Conflict):
    code = "points_cap_exceeded"
    message = "Points may not pay that much of this order."


class PointsNotWholeFen(Invalid):
    code = "points_not_whole_fen"
    message = "These points are not worth a whole number of fen; use a multiple."


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    message = "You already checked in today."


class InvalidProgram(Invalid):
    code = "invalid_program"
    message = "The loyalty programme is not valid."


class MembershipConsentRequired(Conflict):
    code = "membership_consent_required"
    message = 'Join the membership programme first: PUT /v1/me/consents {"membership": true}.'
