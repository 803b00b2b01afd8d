from growthloop.core.errors import Conflict, Forbidden, Invalid, NotFound


class CouponNotFound(NotFound):
    """Also for a coupon of another member: whether it exists is none of the caller's business."""

    code = "coupon_not_found"
    message = "No coupon has this id."


class CouponSoldOut(Conflict):
    code = "coupon_sold_out"
    message = "All coupons of this kind have been claimed."


class LimitReached(Conflict):
    code = "limit_reached"
    message = "You already have as many of this coupon as one member may get."


class IssueKeyReused(Conflict):
    code = "issue_key_reused"
    message = "This issue key already granted a coupon of another template or member."


class CouponInactive(Conflict):
    code = "coupon_inactive"
    message = "This coupon is not being given out."


class CouponExpired(Conflict):
    code = "coupon_expired"
    message = "This coupon's validity has ended."


class CouponNotAvailable(Conflict):
    code = "coupon_not_available"
    message = "This coupon cannot be used now."


class MinSpendNotMet(Conflict):
    code = "min_spend_not_met"
    message = "The order does not reach the coupon's minimum spend."


class CouponNotApplicable(Conflict):
    code = "coupon_not_applicable"
    message = "No item of this order is covered by the coupon."


class NotClaimable(Forbidden):
    code = "not_claimable"
    message = "This coupon is not claimed: it is given by the shop (a gift, a reward)."


class TemplateClaimable(Invalid):
    """A reward members pay for (points, a draw, invites) must not be free to claim."""

    code = "coupon_template_claimable"
    message = "Members can claim this coupon for free, so it cannot be a reward."


class InvalidTemplate(Invalid):
    code = "invalid_coupon_template"
    message = "The coupon template is not valid."
