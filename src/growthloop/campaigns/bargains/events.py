"""What bargains tell the other domains: a member started one, a friend cut its price,
the starter bought it. Analytics records them; shares follow helps.

The fields are what analytics stores as the event's payload: ids and amounts in fen,
never a person's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from growthloop.core.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class BargainEvent(DomainEvent):
    member_id: str
    instance_id: str
    bargain_id: str


@dataclass(frozen=True, kw_only=True)
class BargainStarted(BargainEvent):
    """member_id: the starter, at the bargain's original price."""

    name: ClassVar[str] = "bargain.started"


@dataclass(frozen=True, kw_only=True)
class BargainHelped(BargainEvent):
    """member_id: the helper, whose cut is the instance's `seq`-th."""

    name: ClassVar[str] = "bargain.helped"
    cut: int  # fen
    current_price: int  # fen
    seq: int


@dataclass(frozen=True, kw_only=True)
class BargainPurchased(BargainEvent):
    """member_id: the starter; the order at `price` waits for payment."""

    name: ClassVar[str] = "bargain.purchased"
    order_id: str
    price: int  # fen
