"""What orders tell the other domains: an order was placed, paid, completed, cancelled,
refunded, or loaded from the history. Loyalty, the campaigns and analytics subscribe.

The fields are what analytics stores as the event's payload: ids and amounts in fen,
never a person's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from growthloop.core.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class OrderEvent(DomainEvent):
    """An app order's state change: the order as it stands after the change."""

    order_id: str
    status: str
    payable: int  # fen
    subtotal: int  # fen
    source: str


@dataclass(frozen=True, kw_only=True)
class OrderCreated(OrderEvent):
    name: ClassVar[str] = "order.created"
    items: int  # order lines


@dataclass(frozen=True, kw_only=True)
class OrderPaid(OrderEvent):
    name: ClassVar[str] = "order.paid"
    provider: str


@dataclass(frozen=True, kw_only=True)
class OrderCompleted(OrderEvent):
    name: ClassVar[str] = "order.completed"


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(OrderEvent):
    name: ClassVar[str] = "order.cancelled"
    reason: str  # a code: cancelled_by_member, payment_window_ended, group_closed...


@dataclass(frozen=True, kw_only=True)
class OrderRefunded(OrderEvent):
    name: ClassVar[str] = "order.refunded"
    refund_amount: int  # fen


@dataclass(frozen=True, kw_only=True)
class OrderImported(DomainEvent):
    """A historical order loaded by `growthloop import orders`, on the day it happened."""

    name: ClassVar[str] = "order.imported"
    order_id: str
    payable: int  # fen
    occurred_at: str  # ISO 8601
