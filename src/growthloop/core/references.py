"""Ids a request body names (a product, a member, a coupon template): each must be a row of
the caller's merchant, or the request is refused whole with 422 `unknown_<row>`
(`unknown_product`, `unknown_member`, `unknown_coupon_template`, ...).

Every business table carries `merchant_id`, so the kernel answers "which of these ids are
this merchant's rows of that table" without importing the domain that owns the table
(domains on one floor may not import each other). An id of another merchant's row and an
id that names nothing get the same answer: it never tells whether another merchant has
such a row. The answer names the field and the offending ids, in the message and in
`details` (`field`, `id`: the first, `ids`: all of them, in the order given).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.errors import Invalid
from growthloop.core.models import Base

CHUNK = 1000  # ids per query: well inside every driver's limit on bound parameters


class UnknownReference(Invalid):
    """The base of the `unknown_<row>` errors; catch this one for all of them."""

    code = "unknown_reference"
    message = "The request names an id that is not one of this merchant's."


@cache
def error_class(table: str) -> type[UnknownReference]:
    """`unknown_product` for `products`, `unknown_category` for `categories`, ..."""
    row = table[:-3] + "y" if table.endswith("ies") else table.removesuffix("s")
    name = "Unknown" + "".join(part.title() for part in row.split("_"))
    return cast(type[UnknownReference], type(name, (UnknownReference,), {"code": f"unknown_{row}"}))


def unknown(field: str, table: str, missing: list[str]) -> UnknownReference:
    """The error naming `missing` (ids not of the merchant's `table`) given as `field`."""
    noun = table.replace("_", " ")
    return error_class(table)(
        f"{field}: {missing[0]} is none of this merchant's {noun}.",
        field=field,
        id=missing[0],
        ids=missing,
    )


async def owned_ids(
    session: AsyncSession, merchant_id: str, table: str, ids: Iterable[str]
) -> set[str]:
    """Those of `ids` that are rows of `table` (by name) belonging to `merchant_id`."""
    wanted = list(dict.fromkeys(ids))
    rows = Base.metadata.tables.get(table)
    if rows is None:  # its model module is not imported (growthloop.all_models does it)
        raise RuntimeError(f"no table {table!r} in the metadata")
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        stmt = select(rows.c.id).where(
            rows.c.merchant_id == merchant_id, rows.c.id.in_(wanted[start : start + CHUNK])
        )
        found.update((await session.execute(stmt)).scalars())
    return found


async def check(
    session: AsyncSession, merchant_id: str, *, table: str, field: str, ids: Iterable[str]
) -> None:
    """422 `unknown_<row>` unless every id is one of the merchant's rows of `table`."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return
    found = await owned_ids(session, merchant_id, table, wanted)
    missing = [i for i in wanted if i not in found]
    if missing:
        raise unknown(field, table, missing)
