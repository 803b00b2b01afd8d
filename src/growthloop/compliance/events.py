"""What the consent ledger tells the rest of the system. Fields are the analytics payload,
beside merchant and member."""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import MemberEvent


class ConsentChanged(MemberEvent):
    """A member's decision on a purpose changed (a ledger row was appended)."""

    name: ClassVar[str] = "consent.changed"
    purpose: str
    granted: bool
    policy_version: str
