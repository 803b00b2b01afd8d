from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, model_validator

from growthloop.core.money import FenAmount, PositiveFen
from growthloop.core.schemas import Id, Instant, Name, ShortName, Strict

CouponKind = Literal["amount_off", "percent_off"]
CouponStatus = Literal["available", "locked", "used", "expired"]
# claim: by the member; issue: by an operator; mall: a points-mall reward; auto: on an event
# (auto_issue); campaign: a marketing campaign's reward.
CouponSource = Literal["claim", "issue", "mall", "auto", "campaign"]
AutoIssue = Literal["registration", "enrolment", "birthday", "tier_upgrade"]
SkipReason = Literal["limit_reached", "coupon_sold_out", "member_not_found"]
# claim: in the coupon centre, members claim it; grant: only given (automatic issuance,
# operators, the points mall, lotteries, invite rewards), never listed to members.
Obtain = Literal["claim", "grant"]

Total = Annotated[int, Field(strict=True, ge=1, le=10_000_000)]
PerMember = Annotated[int, Field(strict=True, ge=1, le=100)]
Days = Annotated[int, Field(strict=True, ge=1, le=3650)]
# A loyalty tier's name, as the programme spells it (loyalty.schemas.TierIn.name).
TierName = ShortName
MAX_PERCENT_OFF = 99  # 100% off would be a free-goods coupon, a different thing


class CouponTemplateIn(Strict):
    """`value`: fen off for amount_off; the percent taken off for percent_off (20 = 8折).
    Validity: `valid_days` after the claim, or the fixed `valid_from`..`valid_until`,
    or neither (no end). Scope: `product_ids` and/or `category_ids`; none = whole store.
    `stacks_with_campaigns`: whether the coupon also takes off campaign-priced lines (flash
    sale, group buy, bargain); by default it does not.
    `auto_issue`: one coupon is granted automatically on registration, 支付即会员 enrolment,
    the member's birthday or a tier upgrade, to members of `auto_issue_tiers` (empty: any
    tier; for a tier upgrade, the tier reached). Outside the fixed window, or once the
    template is inactive or sold out, or the member's limit is reached, nothing is granted.
    `obtain`: `claim` lists the template in the coupon centre for members to claim;
    `grant` keeps it for what the shop gives (automatic issuance, operators' issues, points
    mall, lottery and invite rewards). Default: `grant` with `auto_issue`, else `claim`; an
    automatically issued template cannot be claimable."""

    name: Name
    kind: CouponKind
    value: PositiveFen
    min_spend: FenAmount = 0
    max_discount: PositiveFen | None = None
    total: Total | None = None
    per_member_limit: PerMember = 1
    valid_days: Days | None = None
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    product_ids: list[Id] = Field(default_factory=list, max_length=200)
    category_ids: list[Id] = Field(default_factory=list, max_length=100)
    stacks_with_campaigns: StrictBool = False
    auto_issue: AutoIssue | None = None
    auto_issue_tiers: list[TierName] = Field(default_factory=list, max_length=10)
    obtain: Obtain | None = None
    active: StrictBool = True

    @model_validator(mode="after")
    def _check(self) -> CouponTemplateIn:
        if self.auto_issue is not None and self.obtain == "claim":
            raise ValueError("an automatically issued template is granted, not claimed")
        if self.auto_issue_tiers and self.auto_issue in (None, "registration"):
            raise ValueError(
                "auto_issue_tiers applies to enrolment, birthday and tier_upgrade issuance"
            )
        if self.kind == "percent_off" and self.value > MAX_PERCENT_OFF:
            raise ValueError(f"percent_off takes 1..{MAX_PERCENT_OFF} percent off")
        if self.kind == "amount_off" and self.max_discount is not None:
            raise ValueError("max_discount caps percent_off coupons only")
        fixed = self.valid_from is not None or self.valid_until is not None
        if self.valid_days is not None and fixed:
            raise ValueError("give valid_days or a valid_from/valid_until window, not both")
        if self.valid_from and self.valid_until and self.valid_from >= self.valid_until:
            raise ValueError("valid_from must be before valid_until")
        return self


class CouponTemplatePatch(Strict):
    """`active` and `obtain` only: coupons already given out keep their terms."""

    active: StrictBool | None = None
    obtain: Obtain | None = None

    @model_validator(mode="after")
    def _check(self) -> CouponTemplatePatch:
        if self.active is None and self.obtain is None:
            raise ValueError("give active, obtain or both")
        return self


class IssueIn(Strict):
    member_ids: list[Id] = Field(min_length=1, max_length=500)


class CouponTemplateOut(BaseModel):
    """A template as members see it."""

    id: str
    name: str
    kind: CouponKind
    value: int
    min_spend: int
    max_discount: int | None
    per_member_limit: int
    remaining: int | None  # None: unlimited
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    product_ids: list[str]
    category_ids: list[str]
    stacks_with_campaigns: bool


class AdminCouponTemplateOut(CouponTemplateOut):
    total: int | None
    claimed: int
    auto_issue: AutoIssue | None
    auto_issue_tiers: list[str]
    obtain: Obtain
    active: bool
    created_at: datetime
    updated_at: datetime


class CouponOut(BaseModel):
    id: str
    template_id: str
    name: str
    kind: CouponKind
    value: int
    min_spend: int
    max_discount: int | None
    product_ids: list[str]
    category_ids: list[str]
    stacks_with_campaigns: bool
    status: CouponStatus
    source: CouponSource
    valid_from: datetime
    valid_until: datetime | None
    order_id: str | None
    claimed_at: datetime
    used_at: datetime | None


class IssueResultOut(BaseModel):
    member_id: str
    issued: bool
    coupon_id: str | None
    reason: SkipReason | None


class IssueOut(BaseModel):
    template_id: str
    issued: int
    skipped: int
    results: list[IssueResultOut]
