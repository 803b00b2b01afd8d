"""What the alliance tells the rest of the system. Fields are the analytics payload,
beside the source merchant and its member."""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import DomainEvent


class AllianceExchanged(DomainEvent):
    """A member's points left `merchant_id` and arrived, converted, at the partner."""

    name: ClassVar[str] = "alliance.exchanged"
    exchange_id: str
    partnership_id: str
    target_merchant_id: str
    points_out: int
    points_in: int
