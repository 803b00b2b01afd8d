"""Fetching a row an admin or member names by id: 404 if it does not exist, 403 if it is
another merchant's (API.md). One helper instead of an `access_*` function per model."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.auth import ensure_same_merchant
from growthloop.core.errors import NotFound


class Owned(Protocol):
    merchant_id: Any


R = TypeVar("R", bound=Owned)


async def get_owned(
    session: AsyncSession,
    model: type[R],
    row_id: str,
    merchant_id: str,
    missing: NotFound,
    *,
    for_update: bool = False,
) -> R:
    """The `model` row `row_id` of `merchant_id`: `missing` (a 404) when there is none, a
    403 when it belongs to another merchant. `for_update` locks it (PostgreSQL)."""
    row = await session.get(model, row_id, with_for_update=for_update or None)
    if row is None:
        raise missing
    ensure_same_merchant(row.merchant_id, merchant_id)
    return row
