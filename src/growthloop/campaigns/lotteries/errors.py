from growthloop.core.errors import Conflict, NotFound


class LotteryNotFound(NotFound):
    code = "lottery_not_found"
    message = "No lottery has this id."


class VoucherNotFound(NotFound):
    code = "lottery_voucher_not_found"
    message = "No lottery prize voucher has this code."


class AlreadyEnded(Conflict):
    code = "lottery_ended"
    message = "This lottery has already ended."


class DailyDrawLimit(Conflict):
    code = "daily_draw_limit"
    message = "You have drawn as often as one member may today."


class NoFreeDrawsLeft(Conflict):
    code = "no_free_draws_left"
    message = "You have used today's free draws; come back tomorrow."


class WinLimitReached(Conflict):
    code = "win_limit_reached"
    message = "You have won as many prizes in this lottery as one member may."


class PrizesExhausted(Conflict):
    code = "prizes_exhausted"
    message = "No prize of this lottery is left to give you."


class VoucherAlreadyUsed(Conflict):
    code = "voucher_already_used"
    message = "This voucher has already been redeemed."


class VoucherExpired(Conflict):
    code = "voucher_expired"
    message = "This voucher has expired."
