"""Distribution's events: a promoter binding made, and a commission's life (frozen at
payment, settled into the promoter's account, cancelled by a refund)."""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import DomainEvent


class DistributionBound(DomainEvent):
    """member_id: the member now bound to `promoter_id`."""

    name: ClassVar[str] = "distribution.bound"
    promoter_id: str


class CommissionEvent(DomainEvent):
    """member_id: the promoter who earns (or loses) the commission."""

    order_id: str
    level: int
    amount: int


class CommissionFrozen(CommissionEvent):
    name: ClassVar[str] = "commission.frozen"


class CommissionSettled(CommissionEvent):
    name: ClassVar[str] = "commission.settled"


class CommissionCancelled(CommissionEvent):
    name: ClassVar[str] = "commission.cancelled"
