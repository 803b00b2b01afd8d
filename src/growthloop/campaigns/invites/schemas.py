from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from growthloop.core.schemas import Id, Instant, Name, Strict

Trigger = Literal["registration", "first_order"]
Points = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]


class RewardIn(Strict):
    coupon_template_id: Id | None = None
    points: Points | None = None


class InviteRuleIn(Strict):
    """ "Invite 3 friends who sign up, both get a 10-yuan coupon": `trigger` registration,
    `invites_needed` 3, both rewards a coupon template. An invitee counts when they sign
    up with the inviter's referral code (`registration`) or pays their first order
    (`first_order`); only members new since the rule started count. The inviter is
    rewarded at `invites_needed` qualified invitees (every `invites_needed` with
    `repeat`), the invitee when they qualify."""

    name: Name
    trigger: Trigger
    invites_needed: Annotated[int, Field(strict=True, ge=1, le=1000)] = 1
    repeat: bool = False
    inviter_reward: RewardIn | None = None
    invitee_reward: RewardIn | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None

    @model_validator(mode="after")
    def _consistent(self) -> InviteRuleIn:
        rewards = [r for r in (self.inviter_reward, self.invitee_reward) if r is not None]
        if not any(r.coupon_template_id or r.points for r in rewards):
            raise ValueError("a rule rewards the inviter, the invitee or both")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class RewardOut(BaseModel):
    coupon_template_id: str | None
    points: int | None


class InviteRuleOut(BaseModel):
    id: str
    name: str
    trigger: Trigger
    invites_needed: int
    repeat: bool
    inviter_reward: RewardOut
    invitee_reward: RewardOut
    starts_at: datetime
    ends_at: datetime | None
    status: Literal["scheduled", "running", "ended"]
    qualified: int | None = Field(None, description="admin: invitees counted so far")


class MyRuleProgressOut(BaseModel):
    rule_id: str
    name: str
    trigger: Trigger
    invites_needed: int
    repeat: bool
    qualified: int
    rewards_earned: int
    next_reward_in: int | None = Field(description="invitees until the next reward; null: no more")


class MyInvitesOut(BaseModel):
    referrer_code: str | None
    rules: list[MyRuleProgressOut]
