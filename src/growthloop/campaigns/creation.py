"""What creating any campaign checks and records.

A campaign sells one of the merchant's products (an unknown id and another merchant's
alike answer 422 `unknown_product`), does not end before it is created (422
`invalid_campaign`), is named after its product unless the operator names it, starts now
unless told when, and its creation is audited with the operator who made it, in the same
transaction. Each campaign adds its own rules between these steps (a group's price below
the product's, a bargain's original price not above it...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.errors import InvalidCampaign
from growthloop.catalog import service as catalog
from growthloop.core import audit, references
from growthloop.core.audit import Action
from growthloop.core.context import now


class Scheduled(Protocol):
    """When a new campaign runs, as its creation request says."""

    @property
    def starts_at(self) -> datetime | None: ...

    @property
    def ends_at(self) -> datetime | None: ...


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


class Created(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def merchant_id(self) -> str: ...


async def product_sold(session: AsyncSession, merchant_id: str, data: NewCampaign) -> Sold:
    """The merchant's product the new campaign sells (422 `unknown_product` otherwise)."""
    await references.check(
        session, merchant_id, table="products", field="product_id", ids=[data.product_id]
    )
    return await catalog.access_product(session, merchant_id, data.product_id)


def ensure_ends_later(data: Scheduled, at: datetime) -> None:
    """422 `invalid_campaign` when the campaign would end at or before `at`."""
    if data.ends_at is not None and data.ends_at <= at:
        raise InvalidCampaign("ends_at is in the past.", ends_at=data.ends_at.isoformat())


def window_columns(data: Scheduled, at: datetime) -> dict[str, Any]:
    """A new campaign's window (from `at` unless told when) and its creation at `at`."""
    return {"starts_at": data.starts_at or at, "ends_at": data.ends_at, "created_at": at}


def campaign_columns(
    session: AsyncSession, merchant_id: str, product: Sold, data: NewCampaign
) -> dict[str, Any]:
    """The columns every campaign row has, from its creation request; 422
    `invalid_campaign` when it would end at or before now."""
    at = now(session)
    ensure_ends_later(data, at)
    return {
        "merchant_id": merchant_id,
        "product_id": product.id,
        "name": data.name or product.name,
        **window_columns(data, at),
    }


async def add_created(
    session: AsyncSession,
    campaign: Created,
    admin_id: str,
    action: Action,
    *,
    subject_type: str,
    **details: Any,
) -> None:
    """Store the new campaign and audit its creation by `admin_id` (with `details`)."""
    session.add(campaign)
    await session.flush()
    await audit.by_admin(
        session,
        campaign.merchant_id,
        admin_id,
        action,
        subject_type=subject_type,
        subject_id=campaign.id,
        **details,
    )
