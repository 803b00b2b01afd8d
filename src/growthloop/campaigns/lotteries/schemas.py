from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from growthloop.core.schemas import Id, Instant, Name, Strict

PrizeKind = Literal["coupon", "points", "product", "none"]
LotteryStatus = Literal["scheduled", "running", "ended"]
# Why the member cannot draw now; None when they can.
CannotDraw = Literal[
    "not_started",
    "ended",
    "prizes_exhausted",
    "daily_draw_limit",
    "no_free_draws_left",
    "insufficient_points",
    "win_limit_reached",
]

Rules = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Weight = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
Stock = Annotated[int, Field(strict=True, ge=1, le=10_000_000)]
PrizePoints = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
CostPoints = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
FreeDraws = Annotated[int, Field(strict=True, ge=0, le=100)]
MaxDraws = Annotated[int, Field(strict=True, ge=1, le=1000)]
MaxWins = Annotated[int, Field(strict=True, ge=1, le=1000)]
VoucherDays = Annotated[int, Field(strict=True, ge=1, le=365)]
VoucherCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{12}$")]

MAX_PRIZES = 20


class PrizeIn(Strict):
    """One entry of the pool. `weight` is its share of the draw among the prizes that have
    stock left; `stock` is how many units may ever be given (required for every kind but
    `none`, refused for `none`, whose stock is unlimited). `coupon` gives one coupon of
    `template_id`, `points` credits `points`, `product` gives a voucher for `product_id`
    redeemed at the counter, `none` is 谢谢参与."""

    name: Name
    kind: PrizeKind
    weight: Weight
    stock: Stock | None = None
    template_id: Id | None = None
    points: PrizePoints | None = None
    product_id: Id | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PrizeIn:
        if (self.kind == "none") != (self.stock is None):
            raise ValueError("every prize but `none` needs a stock; `none` takes none")
        if (self.kind == "coupon") != (self.template_id is not None):
            raise ValueError("template_id is required for coupon prizes and only for them")
        if (self.kind == "points") != (self.points is not None):
            raise ValueError("points is required for points prizes and only for them")
        if (self.kind == "product") != (self.product_id is not None):
            raise ValueError("product_id is required for product prizes and only for them")
        return self


class LotteryIn(Strict):
    """A member draws `free_draws_per_day` times a day for free (the merchant's local day),
    then for `cost_points` a draw (0: free draws only), at most `max_draws_per_day` draws
    a day in all, and wins at most `max_wins_per_member` prizes (anything but `none`) in
    the whole lottery. A product voucher can be redeemed for `voucher_valid_days` days.

    The pool holds 1-20 prizes, at least one of them a real prize and at most one `none`.
    Without a `none` prize, draws are refused with 409 `prizes_exhausted` once every
    prize is given out; with one, the draws go on and give `none`."""

    name: Name
    rules: Rules | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = Field(None, description="no draws from then on; open end if unset")
    cost_points: CostPoints = 0
    free_draws_per_day: FreeDraws = 1
    max_draws_per_day: MaxDraws | None = None
    max_wins_per_member: MaxWins | None = None
    voucher_valid_days: VoucherDays = 30
    prizes: list[PrizeIn] = Field(min_length=1, max_length=MAX_PRIZES)

    @model_validator(mode="after")
    def _consistent(self) -> LotteryIn:
        if self.cost_points == 0 and self.free_draws_per_day == 0:
            raise ValueError("a lottery needs free draws, a points cost, or both")
        if self.max_draws_per_day is not None and self.max_draws_per_day < self.free_draws_per_day:
            raise ValueError("max_draws_per_day must allow the free draws")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        kinds = Counter(p.kind for p in self.prizes)
        if kinds["none"] > 1:
            raise ValueError("a pool has at most one `none` prize")
        if kinds["none"] == len(self.prizes):
            raise ValueError("a pool needs at least one real prize")
        return self


class VoucherVerifyIn(Strict):
    code: VoucherCode


class PrizeOut(BaseModel):
    """A prize as members see it: what it is, how many are left and its chance now
    (`odds`: weight over the total weight of the prizes with stock left, 0..1, rounded to
    6 places; 0 once sold out). Weights themselves are the operator's."""

    id: str
    name: str
    kind: PrizeKind
    points: int | None
    template_id: str | None
    product_id: str | None
    stock_left: int | None = Field(description="None: unlimited (the `none` prize)")
    odds: float


class AdminPrizeOut(PrizeOut):
    weight: int
    stock: int | None
    given: int = Field(description="units drawn; for `none`, how often it was drawn")


class MyDrawsOut(BaseModel):
    """The logged-in member's standing today (the merchant's local day)."""

    day: date
    draws_today: int
    free_draws_left: int
    draws_left: int | None = Field(description="None: no daily cap")
    wins: int
    points_balance: int
    can_draw: bool
    cannot_draw: CannotDraw | None


class _LotteryTerms(BaseModel):
    """What members and operators both see of a lottery."""

    id: str
    name: str
    rules: str | None
    starts_at: datetime
    ends_at: datetime | None
    status: LotteryStatus
    cost_points: int
    free_draws_per_day: int
    max_draws_per_day: int | None
    max_wins_per_member: int | None
    voucher_valid_days: int
    exhausted: bool = Field(description="every real prize given out")


class LotteryOut(_LotteryTerms):
    prizes: list[PrizeOut]
    mine: MyDrawsOut | None = Field(None, description="only with a member token")


class AdminLotteryOut(_LotteryTerms):
    prizes: list[AdminPrizeOut]
    draws: int
    free_draws: int
    points_collected: int
    participants: int
    ended_early_at: datetime | None
    created_at: datetime


class DrawPrizeOut(BaseModel):
    id: str
    name: str
    kind: PrizeKind


class VoucherOut(BaseModel):
    """A product prize: the member shows `code` at the counter; staff redeem it once."""

    code: str
    product_id: str
    expires_at: datetime
    redeemed_at: datetime | None


class DrawOut(BaseModel):
    id: str
    lottery_id: str
    lottery_name: str
    prize: DrawPrizeOut
    won: bool = Field(description="anything but the `none` prize")
    free_draw: bool
    paid_points: int
    coupon_id: str | None
    points: int | None = Field(description="points credited by a points prize")
    voucher: VoucherOut | None
    day: date
    created_at: datetime


class DrawResultOut(DrawOut):
    free_draws_left: int = Field(description="today, after this draw")
    draws_left: int | None = Field(description="today, after this draw; None: no daily cap")


class AdminDrawOut(DrawOut):
    member_id: str
