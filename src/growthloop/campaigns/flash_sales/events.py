"""What flash sales tell the other domains: a member bought at a sale's price, and a sale
closed (its unsold units back on the product's shelf). Analytics records the purchase."""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import DomainEvent, MemberEvent


class FlashSalePurchased(MemberEvent):
    """member_id: the buyer; the order waits for payment, holding `quantity` units."""

    name: ClassVar[str] = "flash_sale.purchased"
    flash_sale_id: str
    order_id: str
    quantity: int


class FlashSaleClosed(DomainEvent):
    """The sweep closed a sale that is over: `sold` units paid, `returned` to the product."""

    name: ClassVar[str] = "flash_sale.closed"
    flash_sale_id: str
    sold: int
    returned: int
