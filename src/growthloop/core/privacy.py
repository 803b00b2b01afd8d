"""What a domain hands the privacy registry for its tables, and the small tools its
handler uses: each domain's `privacy.py` exports a member's rows and erases them.

The registry itself (walking the handlers for an export or an erasure) is compliance's;
these types sit in the kernel so that a domain declares its handler without importing
compliance's internals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Executable, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

# Bulk statements on rows the session may hold: do not reconcile them in Python.
SYNC_OFF = {"synchronize_session": False}


@dataclass
class Erasure:
    merchant_id: str
    member_id: str
    now: datetime
    # Identifiers of the member found while erasing (platform ids, device ids): what the
    # stores outside the database must also forget.
    identifiers: set[str] = field(default_factory=set)


ExportFn = Callable[[AsyncSession, str, str], Awaitable[Any]]
EraseFn = Callable[[AsyncSession, Erasure], Awaitable[dict[str, int]]]
StoreEraser = Callable[[Erasure], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class PrivacyHandler:
    section: str  # the export's section and the receipt's line
    tables: tuple[str, ...]
    export: ExportFn
    erase: EraseFn
    keeps: str = ""  # what stays after erasure, and why (shown in the receipt)


def iso(value: datetime | date | None) -> str | None:
    """A timestamp or day as the export writes it."""
    return value.isoformat() if value is not None else None


def _affected(result: Any) -> int:
    """The rows an UPDATE or DELETE touched (0 where the driver cannot say)."""
    return int(getattr(result, "rowcount", 0) or 0)


async def execute_bulk(session: AsyncSession, stmt: Executable) -> int:
    """Run a bulk UPDATE or DELETE without session sync; the rows it touched."""
    return _affected(await session.execute(stmt, execution_options=SYNC_OFF))


async def count_rows(session: AsyncSession, model: Any, *where: ColumnElement[bool]) -> int:
    """How many rows of `model` match: what a handler keeps, for the receipt."""
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def delete_by_member(
    session: AsyncSession, merchant_id: str, member_id: str, *models: Any
) -> dict[str, int]:
    """Delete the member's rows from tables keyed by (merchant_id, member_id); the count
    per table, for the receipt."""
    counts: dict[str, int] = {}
    for model in models:
        counts[model.__tablename__] = await execute_bulk(
            session,
            delete(model).where(model.merchant_id == merchant_id, model.member_id == member_id),
        )
    return counts
