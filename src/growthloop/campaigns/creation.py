"""What a new campaign's request says, and what creating one that sells a product checks
before its kind stores it (`CampaignKind.create`, which refuses an end already past).

A campaign sells one of the merchant's products (an unknown id and another merchant's
alike answer 422 `unknown_product`), usually at a price below the product's own (422
`price_not_below_regular`), and is named after its product unless the operator names it.
Each kind adds its own rules (a bargain's original price not above the product's, a
lottery's prizes...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.errors import PriceNotBelowRegular
from growthloop.catalog import service as catalog
from growthloop.core import references


class Scheduled(Protocol):
    """When a new campaign runs, as its creation request says."""

    @property
    def starts_at(self) -> datetime | None: ...

    @property
    def ends_at(self) -> datetime | None: ...


class Request(Scheduled, Protocol):
    """A campaign's creation request (a Pydantic model)."""

    def model_dump(self, *, include: set[str]) -> dict[str, Any]: ...


class NewCampaign(Scheduled, Protocol):
    """What every creation request of a campaign selling a product names."""

    @property
    def product_id(self) -> str: ...

    @property
    def name(self) -> str | None: ...


class Sold(Protocol):
    """The product a campaign sells, as the catalog lends it."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def price(self) -> int: ...  # fen


async def product_sold(session: AsyncSession, merchant_id: str, data: NewCampaign) -> Sold:
    """The merchant's product the new campaign sells (422 `unknown_product` otherwise)."""
    await references.check(
        session, merchant_id, table="products", field="product_id", ids=[data.product_id]
    )
    return await catalog.access_product(session, merchant_id, data.product_id)


def ensure_below_regular(product: Sold, price: int, what: str, /, **details: Any) -> None:
    """422 `price_not_below_regular` (naming `details`) unless the campaign's `price`, its
    `what` ("group price"), is below the product's own."""
    if price >= product.price:
        raise PriceNotBelowRegular(
            f"The {what} {price} fen is not below the product's regular price {product.price} fen.",
            **details,
            regular_price=product.price,
            product_id=product.id,
        )


def selling(product: Sold, data: NewCampaign) -> dict[str, Any]:
    """The columns of a campaign selling `product`: the product, and the campaign's name
    (the product's unless the operator names it)."""
    return {"product_id": product.id, "name": data.name or product.name}
