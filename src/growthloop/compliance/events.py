"""What the consent ledger tells the rest of the system. Fields are the analytics payload,
beside merchant and member."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from growthloop.core.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ConsentChanged(DomainEvent):
    """A member's decision on a purpose changed (a ledger row was appended)."""

    name: ClassVar[str] = "consent.changed"
    member_id: str
    purpose: str
    granted: bool
    policy_version: str
