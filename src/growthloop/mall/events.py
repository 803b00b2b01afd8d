"""What the points mall tells the rest of the system: a redemption was made, handed over
or shipped, or cancelled. Fields are the analytics payload, beside merchant and member."""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import DomainEvent


class RedemptionEvent(DomainEvent):
    """What every redemption event carries."""

    redemption_id: str
    reward_id: str
    kind: str
    quantity: int
    points: int
    status: str


class MallRedeemed(RedemptionEvent):
    """Points exchanged for a reward (coupons issued, or a voucher or gift pending)."""

    name: ClassVar[str] = "mall.redeemed"


class MallFulfilled(RedemptionEvent):
    """A pending voucher used at the counter, or a physical gift shipped."""

    name: ClassVar[str] = "mall.fulfilled"


class MallCancelled(RedemptionEvent):
    """A pending redemption undone by an operator: stock, count and points came back."""

    name: ClassVar[str] = "mall.cancelled"
