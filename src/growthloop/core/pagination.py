"""Cursor pagination: `?limit=&cursor=` -> `{"items": [...], "next_cursor": ...}`.

Ids are time-sortable, so a cursor is the last id seen (opaque, base64url).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from growthloop.core.errors import Invalid
from growthloop.core.ids import is_id

T = TypeVar("T")
M = TypeVar("M")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class PageParams:
    limit: int
    after_id: str | None


class InvalidCursor(Invalid):
    code = "invalid_cursor"
    message = "The cursor is not one this API returned."


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor_text(cursor: str) -> str:
    """The text an `encode_cursor` cursor carries (any text: a list with a cursor of its own
    shape checks it); InvalidCursor when it is not base64url."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidCursor() from None


def decode_cursor(cursor: str) -> str:
    value = decode_cursor_text(cursor)
    if not is_id(value):
        raise InvalidCursor()
    return value


async def page_params(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> PageParams:
    return PageParams(limit=limit, after_id=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]


def make_page(rows: list[T], params: PageParams, id_of: str = "id") -> tuple[list[T], str | None]:
    """`rows` were fetched with `limit + 1`; trims the extra row and builds the cursor."""
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        return rows, encode_cursor(str(getattr(rows[-1], id_of)))
    return rows, None


async def fetch_page(
    session: AsyncSession,
    stmt: Select[M],
    id_column: InstrumentedAttribute[str],
    params: PageParams,
    *,
    oldest_first: bool = False,
    sort_column: InstrumentedAttribute[Any] | None = None,
    after: M | None = None,
) -> tuple[list[M], str | None]:
    """Keyset pagination: the rows of `stmt` after the cursor, and the next cursor (the id
    of the last row). Ids are time-sortable, so newest first, the default, is "id
    descending"; `oldest_first` is "id ascending".

    With a `sort_column` the rows go by that column first, the id breaking ties (a shelf in
    its operator's order). The cursor still names a row: the caller resolves it, since only
    it knows which rows a cursor of its list may name, and passes it as `after`."""
    if params.after_id is not None:
        past = _beyond(id_column, params.after_id, oldest_first)
        if sort_column is not None:
            if after is None:
                raise ValueError("a page by a sort column goes on after the row `after`")
            value = getattr(after, sort_column.key)
            past = or_(_beyond(sort_column, value, oldest_first), and_(sort_column == value, past))
        stmt = stmt.where(past)
    keys = [id_column] if sort_column is None else [sort_column, id_column]
    order = [key.asc() if oldest_first else key.desc() for key in keys]
    rows = list((await session.scalars(stmt.order_by(*order).limit(params.limit + 1))).all())
    return make_page(rows, params, id_column.key)


def _beyond(
    column: InstrumentedAttribute[Any], value: Any, oldest_first: bool
) -> ColumnElement[bool]:
    beyond: ColumnElement[bool] = column > value if oldest_first else column < value
    return beyond
