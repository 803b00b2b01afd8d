"""Invites' events: an invitee counted under a rule, and a reward granted."""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import DomainEvent


class InviteQualified(DomainEvent):
    """member_id: the inviter."""

    name: ClassVar[str] = "invite.qualified"
    rule_id: str
    invitee_id: str


class InviteRewarded(DomainEvent):
    """member_id: the member rewarded, as the `role` (inviter or invitee)."""

    name: ClassVar[str] = "invite.rewarded"
    rule_id: str
    role: str
    coupon_id: str | None
    points: int | None
