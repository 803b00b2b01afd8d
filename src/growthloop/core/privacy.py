"""What a domain hands the privacy registry for its tables, and the small tools its
handler uses: each domain's `privacy.py` exports a member's rows and erases them.

The registry itself (walking the handlers for an export or an erasure) is compliance's;
these types sit in the kernel so that a domain declares its handler without importing
compliance's internals.

The tools: `of_member` (the member's rows of a table in the merchant), `member_row` (the
member's one row of a table: an account, a binding), `member_rows` and `rows` (rows as the
export writes them: a dict of the named fields, times in ISO format), and for the erasure
`count_member_rows`, `delete_by_member` and `clear_columns`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Executable, Label, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

M = TypeVar("M")

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
    # Run once the erasure's transaction has ended, committed or not: a store that held
    # its writers back while it erased lets them go.
    when_done: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


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


# What an export row shows: a column of the queried model by its name, or a labelled
# expression (a column renamed, a joined table's column).
Field = str | Label[Any]
# A join for the export rows: the joined model and the condition.
Join = tuple[Any, ColumnElement[bool]]


def iso(value: datetime | date | None) -> str | None:
    """A timestamp or day as the export writes it."""
    return value.isoformat() if value is not None else None


def of_member(
    model: Any, merchant_id: str, member_id: str, member: str = "member_id"
) -> ColumnElement[bool]:
    """The rows of `model` that are the member's in the merchant; `member` names the column
    that holds the member (`helper_member_id`, `promoter_id`, ...)."""
    return and_(model.merchant_id == merchant_id, getattr(model, member) == member_id)


async def member_row(
    session: AsyncSession,
    model: type[M],
    merchant_id: str,
    member_id: str,
    member: str = "member_id",
) -> M | None:
    """The member's one row of `model` (`of_member`: an account, a binding, the member row
    itself with `member="id"`), or None."""
    return await session.scalar(
        select(model).where(of_member(model, merchant_id, member_id, member))
    )


async def rows(
    session: AsyncSession,
    model: Any,
    *fields: Field,
    where: ColumnElement[bool],
    order_by: Any,
    join: Join | None = None,
    outerjoin: Join | None = None,
) -> list[dict[str, Any]]:
    """The rows of `model` that match `where`, ordered by `order_by` (a column or a tuple of
    them), each as the export writes it: a dict of the `fields` in their order, times and
    days through `iso`."""
    stmt = select(*(getattr(model, f).label(f) if isinstance(f, str) else f for f in fields))
    stmt = stmt.select_from(model)
    if join is not None:
        stmt = stmt.join(*join)
    if outerjoin is not None:
        stmt = stmt.outerjoin(*outerjoin)
    order = order_by if isinstance(order_by, tuple) else (order_by,)
    result = await session.execute(stmt.where(where).order_by(*order))
    return [
        {k: iso(v) if isinstance(v, date) else v for k, v in row.items()}
        for row in result.mappings()
    ]


async def member_rows(
    session: AsyncSession,
    model: Any,
    merchant_id: str,
    member_id: str,
    *fields: Field,
    member: str = "member_id",
    order_by: Any,
    join: Join | None = None,
    outerjoin: Join | None = None,
) -> list[dict[str, Any]]:
    """The member's rows of `model` in the merchant (`of_member`), as `rows` exports them."""
    return await rows(
        session,
        model,
        *fields,
        where=of_member(model, merchant_id, member_id, member),
        order_by=order_by,
        join=join,
        outerjoin=outerjoin,
    )


def _affected(result: Any) -> int:
    """The rows an UPDATE or DELETE touched (0 where the driver cannot say)."""
    return int(getattr(result, "rowcount", 0) or 0)


async def execute_bulk(session: AsyncSession, stmt: Executable) -> int:
    """Run a bulk UPDATE or DELETE without session sync; the rows it touched."""
    return _affected(await session.execute(stmt, execution_options=SYNC_OFF))


async def clear_columns(
    session: AsyncSession, model: Any, where: ColumnElement[bool], *columns: Any
) -> int:
    """Empty `columns` (NULL) on the rows of `model` that match `where` and hold a value in
    any of them; the rows changed, for the receipt."""
    return await execute_bulk(
        session,
        update(model)
        .where(where, or_(*(c.is_not(None) for c in columns)))
        .values({c.key: None for c in columns}),
    )


async def count_rows(session: AsyncSession, model: Any, *where: ColumnElement[bool]) -> int:
    """How many rows of `model` match: what a handler keeps, for the receipt."""
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def count_member_rows(
    session: AsyncSession, model: Any, merchant_id: str, member_id: str, member: str = "member_id"
) -> int:
    """How many of the member's rows of `model` there are (`of_member`): what a handler
    keeps, for the receipt."""
    return await count_rows(session, model, of_member(model, merchant_id, member_id, member))


async def delete_by_member(
    session: AsyncSession, merchant_id: str, member_id: str, *models: Any
) -> dict[str, int]:
    """Delete the member's rows from tables keyed by (merchant_id, member_id); the count
    per table, for the receipt."""
    counts: dict[str, int] = {}
    for model in models:
        counts[model.__tablename__] = await execute_bulk(
            session, delete(model).where(of_member(model, merchant_id, member_id))
        )
    return counts
