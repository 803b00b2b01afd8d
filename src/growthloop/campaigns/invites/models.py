"""Invite reward rules, the invitees who qualified under them, and the rewards granted.

`(rule_id, invitee_id)` is unique: an invitee counts once per rule, whatever the events'
retries; each reward has its own key, so it is granted once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped

from growthloop.campaigns.models import CampaignColumns
from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col


class InviteRule(CampaignColumns, Base):
    __tablename__ = "invite_rules"

    trigger: Mapped[str] = col(String(16), nullable=False, pii=None)  # registration|first_order
    invites_needed: Mapped[int] = col(Integer, nullable=False, pii=None)
    repeat: Mapped[bool] = col(Boolean, nullable=False, pii=None)  # reward every N, not once
    inviter_template_id: Mapped[str | None] = col(String(26), pii=None)
    inviter_points: Mapped[int | None] = col(Integer, pii=None)
    invitee_template_id: Mapped[str | None] = col(String(26), pii=None)
    invitee_points: Mapped[int | None] = col(Integer, pii=None)

    __table_args__ = (
        CheckConstraint("trigger IN ('registration', 'first_order')", name="trigger"),
        CheckConstraint("invites_needed >= 1", name="invites_needed"),
    )


class InviteQualification(Base):
    __tablename__ = "invite_qualifications"

    rule_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    invitee_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    merchant_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    inviter_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    qualified_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)

    __table_args__ = (Index("ix_invite_qualifications_inviter", "rule_id", "inviter_id"),)


class InviteReward(MerchantOwned, CreatedAt, Base):
    """A reward granted (or skipped, with why: a coupon sold out) under a rule."""

    __tablename__ = "invite_rewards"

    rule_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    role: Mapped[str] = col(String(8), nullable=False, pii=None)  # inviter | invitee
    key: Mapped[str] = col(String(120), nullable=False, unique=True, pii=None)
    coupon_id: Mapped[str | None] = col(String(26), pii=None)
    points: Mapped[int | None] = col(Integer, pii=None)
    skipped: Mapped[str | None] = col(String(64), pii=None)  # the refusal's code

    __table_args__ = (Index("ix_invite_rewards_member", "merchant_id", "member_id"),)
