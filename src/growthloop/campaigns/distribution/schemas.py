from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from growthloop.core.money import PositiveFen
from growthloop.core.schemas import Strict
from growthloop.identity.schemas import ReferralOut as SignUpReferralOut

CommissionStatus = Literal["frozen", "settled", "cancelled"]
WithdrawalStatus = Literal["requested", "approved", "rejected"]
Percent = Annotated[int, Field(strict=True, ge=0, le=50)]


class DistributionIn(Strict):
    """Commission on what the buyer actually paid (after every discount and points):
    `level1_percent` to the member who brought them, `level2_percent` to that member's
    own promoter. Settled `settle_days` after the order completes (the return window).
    A binding lasts `binding_days` (null: for good); `min_withdrawal` in fen."""

    level1_percent: Percent
    level2_percent: Percent = 0
    settle_days: Annotated[int, Field(strict=True, ge=0, le=90)]
    binding_days: Annotated[int, Field(strict=True, ge=1, le=3650)] | None = 30
    min_withdrawal: PositiveFen = 100
    enabled: bool = True

    @model_validator(mode="after")
    def _total(self) -> DistributionIn:
        if self.level1_percent + self.level2_percent > 50:
            raise ValueError("level1_percent + level2_percent may be at most 50")
        return self


class DistributionOut(BaseModel):
    enabled: bool
    level1_percent: int
    level2_percent: int
    settle_days: int
    binding_days: int | None
    min_withdrawal: int
    updated_at: datetime | None = Field(description="null while never set up")


class CommissionOut(BaseModel):
    id: str
    order_id: str
    level: int
    amount: int
    base_amount: int
    percent: int
    status: CommissionStatus
    created_at: datetime
    settle_at: datetime | None
    settled_at: datetime | None
    cancelled_at: datetime | None


class PromoterStatsOut(BaseModel):
    referrer_code: str | None
    bound_to_promoter: bool = Field(description="whether someone brought this member")
    team_level1: int = Field(description="members this member brought, binding still valid")
    team_level2: int = Field(description="members those members brought")
    frozen: int
    settled: int
    cancelled: int
    withdrawn: int = Field(description="requested or approved withdrawals")
    available: int = Field(description="settled minus withdrawn: what may be withdrawn now")
    min_withdrawal: int | None


class ReferralOut(SignUpReferralOut):
    """`GET /v1/me/referral`: the member's own code, and who referred them. `referred_by`
    is the promoter whose binding earns the commissions on the member's orders (the same
    one `GET /v1/me/distribution` reports as `bound_to_promoter`); without such a binding,
    the member who invited them at sign-up, if any."""

    referred_by: str | None = Field(
        description="The promoter the member is bound to (their orders earn this member's "
        "commission); with no binding in force, the member who invited them at sign-up."
    )
    invited_by: str | None = Field(
        description="The member whose code they signed up with (invite rewards, tiers)."
    )
    bound_to_promoter: bool = Field(description="a promoter binding is in force")
    bound_at: datetime | None = Field(description="when the binding in force was made")
    binding_expires_at: datetime | None = Field(
        description="when it lapses (null: never, or no binding); another promoter's link "
        "can bind the member after that"
    )


class WithdrawalIn(Strict):
    amount: PositiveFen


class DecisionIn(Strict):
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class WithdrawalOut(BaseModel):
    id: str
    member_id: str
    amount: int
    status: WithdrawalStatus
    created_at: datetime
    decided_at: datetime | None
    note: str | None
