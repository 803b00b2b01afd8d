"""What orders tell the other domains: an order was placed, paid, completed, cancelled,
refunded, or loaded from the history. Loyalty, the campaigns and analytics subscribe.

The fields are what analytics stores as the event's payload: ids and amounts in fen,
never a person's data.
"""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import DomainEvent


class OrderEvent(DomainEvent):
    """An app order's state change: the order as it stands after the change."""

    order_id: str
    status: str
    payable: int  # fen
    subtotal: int  # fen
    source: str
    # flash_sale, group_buy or bargain when placed through a campaign (its handlers skip
    # the other orders without a query)
    campaign_kind: str | None = None


class OrderCreated(OrderEvent):
    name: ClassVar[str] = "order.created"
    items: int  # order lines


class OrderPaid(OrderEvent):
    name: ClassVar[str] = "order.paid"
    provider: str


class OrderCompleted(OrderEvent):
    name: ClassVar[str] = "order.completed"


class OrderCancelled(OrderEvent):
    name: ClassVar[str] = "order.cancelled"
    reason: str  # a code: cancelled_by_member, payment_window_ended, group_closed...


class OrderRefunded(OrderEvent):
    name: ClassVar[str] = "order.refunded"
    refund_amount: int  # fen


class OrderImported(DomainEvent):
    """A historical order loaded by `growthloop import orders`, on the day it happened."""

    name: ClassVar[str] = "order.imported"
    order_id: str
    payable: int  # fen
    occurred_at: str  # ISO 8601
