"""Cursor pagination: `?limit=&cursor=` -> `{"items": [...], "next_cursor": ...}`.

Ids are time-sortable, so a cursor is the last id seen (opaque, base64url).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select
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


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidCursor() from None
    if not is_id(value):
        raise InvalidCursor()
    return value


def page_params(
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
) -> tuple[list[M], str | None]:
    """Keyset pagination, newest first: the rows of `stmt` after the cursor, and the next
    cursor. Ids are time-sortable, so "newest first" is "id descending"."""
    if params.after_id is not None:
        stmt = stmt.where(id_column < params.after_id)
    rows = list(
        (await session.scalars(stmt.order_by(id_column.desc()).limit(params.limit + 1))).all()
    )
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        return rows, encode_cursor(str(getattr(rows[-1], id_column.key)))
    return rows, None
