"""What bargains tell the other domains: a member started one, a friend cut its price,
the starter bought it. Analytics records them; shares follow helps.

The fields are what analytics stores as the event's payload: ids and amounts in fen,
never a person's data.
"""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import MemberEvent


class BargainEvent(MemberEvent):
    instance_id: str
    bargain_id: str


class BargainStarted(BargainEvent):
    """member_id: the starter, at the bargain's original price."""

    name: ClassVar[str] = "bargain.started"


class BargainHelped(BargainEvent):
    """member_id: the helper, whose cut is the instance's `seq`-th."""

    name: ClassVar[str] = "bargain.helped"
    cut: int  # fen
    current_price: int  # fen
    seq: int


class BargainPurchased(BargainEvent):
    """member_id: the starter; the order at `price` waits for payment."""

    name: ClassVar[str] = "bargain.purchased"
    order_id: str
    price: int  # fen
