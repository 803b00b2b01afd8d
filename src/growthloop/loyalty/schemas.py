from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from growthloop.core.money import FenAmount
from growthloop.core.schemas import ShortName, Strict

# Days every year has, by month (02-29 is left out on purpose).
_DAYS_IN_MONTH = dict(enumerate((31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), start=1))

Count = Annotated[int, Field(strict=True, ge=0, le=100_000)]


class TierIn(Strict):
    """A tier is reached when ANY of its set thresholds is met; a tier with none is the base."""

    name: ShortName
    min_spend: FenAmount | None = None
    min_login_days: Count | None = None
    min_invites: Count | None = None
    discount_percent: Annotated[int, Field(strict=True, ge=0, le=50)] = Field(
        0, description="Percent taken off the order (5 = 95折); at most 50."
    )
    points_multiplier_percent: Annotated[int, Field(strict=True, ge=100, le=1000)] = 100
    free_delivery: bool = False
    birthday_points: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] = Field(
        0, description="Points given on the member's birthday while in this tier."
    )

    @property
    def thresholds(self) -> dict[str, int]:
        pairs = {
            "spend": self.min_spend,
            "login_days": self.min_login_days,
            "invites": self.min_invites,
        }
        return {k: v for k, v in pairs.items() if v is not None}


class ProgramIn(Strict):
    points_per_yuan: Annotated[int, Field(strict=True, ge=0, le=100)]
    tiers: list[TierIn] = Field(min_length=1, max_length=6)
    points_expire_days: Annotated[int, Field(strict=True, ge=1, le=3650)] | None = Field(
        None, description="Points expire this many days after they are earned."
    )
    points_expire_on: (
        Annotated[str, StringConstraints(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
        | None
    ) = Field(
        None,
        description=(
            "Fixed yearly expiry, 'MM-DD': points expire at the end of that day (merchant "
            "timezone) of the year after the one they were earned in (12-31: 次年年底清零)."
        ),
    )
    downgrade_policy: Literal["never", "periodic"] = Field(
        "never",
        description=(
            "never: a tier once reached is kept. periodic: tiers count only the last "
            "`review_days` of spend, login days and invites, and every `review_days` the tier "
            "is re-evaluated and may go down."
        ),
    )
    review_days: Annotated[int, Field(strict=True, ge=7, le=1095)] | None = None
    points_per_yuan_spent: Annotated[int, Field(strict=True, ge=1, le=10_000)] = Field(
        100, description="How many points pay 1 yuan (100 = 1 point per fen)."
    )
    max_points_percent: Annotated[int, Field(strict=True, ge=0, le=100)] = Field(
        50, description="At most this percent of an order may be paid with points."
    )
    welcome_points: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] = 0
    checkin_points: list[Annotated[int, Field(strict=True, ge=0, le=100_000)]] = Field(
        default_factory=lambda: [5, 5, 5, 5, 5, 5, 20],
        max_length=31,
        description="Points for day 1..N of a streak; the cycle repeats (day 7 bonus).",
    )

    @model_validator(mode="after")
    def _check(self) -> ProgramIn:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be distinct")
        if any(not t.thresholds for t in self.tiers[1:]):
            raise ValueError("only the first tier may have no threshold (it is the base tier)")
        if self.points_expire_days is not None and self.points_expire_on is not None:
            raise ValueError("set points_expire_days or points_expire_on, not both")
        if self.points_expire_on is not None:
            month, day = (int(x) for x in self.points_expire_on.split("-"))
            if self.points_expire_on == "02-29" or day > _DAYS_IN_MONTH[month]:
                raise ValueError("points_expire_on must be a day every year has")
        if (self.downgrade_policy == "periodic") != (self.review_days is not None):
            raise ValueError("review_days is set exactly when downgrade_policy is periodic")
        return self


class ProgramOut(ProgramIn):
    model_config = ConfigDict(extra="ignore")


class NextTierOut(BaseModel):
    name: str
    missing: dict[str, int]


class TierBenefitsOut(BaseModel):
    discount_percent: int
    points_multiplier_percent: int
    free_delivery: bool
    birthday_points: int


class MembershipOut(BaseModel):
    tier: str | None
    growth: int
    points: int
    next_tier: NextTierOut | None = None
    benefits: TierBenefitsOut | None
    login_days: int
    invites: int
    checkin_streak: int
    enrolled_at: datetime | None
    tier_review_at: datetime | None = Field(
        None, description="When the tier is next re-evaluated (downgrade policy periodic)."
    )


class LedgerEntryOut(BaseModel):
    id: str
    delta: int
    balance_after: int
    reason: str
    ref: str | None
    created_at: datetime
    expires_at: datetime | None = None


class CheckinOut(BaseModel):
    streak: int
    points_awarded: int
    day: date
