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

from growthloop.core.errors import Invalid
from growthloop.core.ids import is_id

T = TypeVar("T")


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
