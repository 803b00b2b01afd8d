from growthloop.core.errors import Conflict, Invalid, NotFound


class RewardNotFound(NotFound):
    """Also for a reward a member cannot see (inactive or outside its display window)."""

    code = "reward_not_found"
    message = "No reward has this id."


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    message = "No redemption has this id."


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    message = "No reward voucher has this code."


class InvalidReward(Invalid):
    code = "invalid_reward"
    message = "The reward is not valid."


class RewardSoldOut(Conflict):
    code = "reward_sold_out"
    message = "This reward is out of stock."


class RedemptionLimitReached(Conflict):
    code = "redemption_limit_reached"
    message = "You have already redeemed this reward as often as one member may."


class RedemptionNotStarted(Conflict):
    code = "redemption_not_started"
    message = "This reward cannot be redeemed yet."


class RedemptionEnded(Conflict):
    code = "redemption_ended"
    message = "Redemption of this reward has ended."


class ShippingRequired(Invalid):
    code = "shipping_required"
    message = "A physical gift needs a shipping address."


class ShippingNotAccepted(Invalid):
    code = "shipping_not_accepted"
    message = "Only a physical gift is shipped; leave out the shipping address."


class InvalidRedemptionState(Conflict):
    code = "invalid_redemption_state"
    message = "The redemption's status does not allow this."


class StockBelowRedeemed(Conflict):
    code = "stock_below_redeemed"
    message = "The stock cannot be set below the units already redeemed."


class TrackingNotAccepted(Invalid):
    code = "tracking_not_accepted"
    message = "Only a shipped physical gift has a tracking number."
