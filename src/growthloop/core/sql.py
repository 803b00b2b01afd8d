"""SQL helpers that need the dialect: SQLite and PostgreSQL share the syntax, not the class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm.attributes import set_committed_value


def dialect_insert(session: AsyncSession, model: type[DeclarativeBase]) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


async def insert_unless_exists(
    session: AsyncSession,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    conflict: Sequence[str],
) -> bool:
    """INSERT .. ON CONFLICT DO NOTHING: True if this call inserted the row. No savepoint
    needed, so a concurrent duplicate never aborts the transaction."""
    stmt = (
        dialect_insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict))
        .returning(*[getattr(model, c) for c in conflict[:1]])
    )
    return (await session.execute(stmt)).first() is not None


async def increment(
    session: AsyncSession,
    model: type[DeclarativeBase],
    key: dict[str, Any],
    column: str,
) -> int:
    """Atomic counter: INSERT key with 1, or add 1; returns the new value."""
    col = getattr(model, column)
    stmt = (
        dialect_insert(session, model)
        .values(**key, **{column: 1})
        .on_conflict_do_update(index_elements=list(key), set_={column: col + 1})
        .returning(col)
    )
    return int((await session.execute(stmt)).scalar_one())


def mark_committed(obj: object, **values: Any) -> None:
    """Reflect a guarded UPDATE on an already-loaded object without re-reading the row."""
    for name, value in values.items():
        set_committed_value(obj, name, value)


async def move_status(
    session: AsyncSession,
    obj: Any,
    before: str | Sequence[str],
    after: str,
    **values: Any,
) -> bool:
    """Guarded state change of a loaded row: `UPDATE .. SET status = after WHERE id = ..
    AND status IN before`. True if this call moved it (a concurrent or retried one moves
    nothing); the loaded object then reflects the change without re-reading it."""
    model = type(obj)
    allowed = (before,) if isinstance(before, str) else tuple(before)
    values["status"] = after
    result = await session.execute(
        update(model)
        .where(model.id == obj.id, model.status.in_(allowed))
        .values(**values)
        .returning(model.id)
    )
    if result.first() is None:
        return False
    mark_committed(obj, **values)
    return True
