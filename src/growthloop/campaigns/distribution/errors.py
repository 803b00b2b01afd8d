from growthloop.core.errors import Conflict, Invalid, NotFound


class DistributionOff(Conflict):
    code = "distribution_off"
    message = "This shop runs no distribution programme."


class BelowMinimumWithdrawal(Invalid):
    code = "below_minimum_withdrawal"
    message = "A withdrawal must be at least the shop's minimum."


class InsufficientCommission(Conflict):
    code = "insufficient_commission"
    message = "Not that much settled commission is available."


class WithdrawalNotFound(NotFound):
    code = "withdrawal_not_found"
    message = "No withdrawal has this id."


class WithdrawalDecided(Conflict):
    code = "withdrawal_decided"
    message = "This withdrawal has already been approved or rejected."
