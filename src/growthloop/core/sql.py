"""SQL helpers the repositories share: inserts that need the dialect (SQLite and PostgreSQL
share the syntax, not the class), guarded updates and counters (the WHERE is the check, never
a read and then a write), and the shapes of a few common statements."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ClauseElement,
    Select,
    SQLColumnExpression,
    Table,
    Update,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

S = TypeVar("S", bound=Select[Any])

# The statements of the helpers below, built once per shape (model, columns, dialect) with
# bound parameters: building and keying a statement cost as much as running it on SQLite.
# The key space is the set of call sites, so this never grows past a few hundred.
_BUILT: dict[tuple[Any, ...], Any] = {}


def _built(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """The statement of shape `key`, built by `build()` the first time."""
    stmt = _BUILT.get(key)
    if stmt is None:
        stmt = _BUILT[key] = build()
    return stmt


def _insert_for(dialect: str, target: Any) -> Any:
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(target)


def table_of(model: type[DeclarativeBase]) -> Table:
    """A model's table, for the Core statements built once (typed: `__table__` is not)."""
    return cast(Table, model.__table__)


def _plain(model: Any, values: Mapping[str, Any]) -> bool:
    """Values that can be bound parameters (not SQL expressions), each for the table column
    of the same name as the mapped attribute."""
    columns, mapped = model.__table__.c, model.__mapper__.columns
    return all(
        not isinstance(v, ClauseElement) and k in columns and mapped.get(k) is columns[k]
        for k, v in values.items()
    )


async def flush_pending(session: AsyncSession) -> None:
    """What an ORM statement does first (autoflush), for a Core statement run through the
    session: a row added in this session must be there before it runs."""
    if session.new or session.dirty or session.deleted:
        await session.flush()


def _set(names: Sequence[str]) -> dict[str, Any]:
    return {name: bindparam(f"v_{name}") for name in names}


def _bound(values: Mapping[str, Any]) -> dict[str, Any]:
    return {f"v_{name}": value for name, value in values.items()}


def dialect_insert(session: AsyncSession, model: type[DeclarativeBase]) -> Any:
    return _insert_for(session.get_bind().dialect.name, model)


async def insert_unless_exists(
    session: AsyncSession,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    conflict: Sequence[str],
) -> bool:
    """INSERT .. ON CONFLICT DO NOTHING: True if this call inserted the row. No savepoint
    needed, so a concurrent duplicate never aborts the transaction."""
    if _plain(model, values):
        dialect = session.get_bind().dialect.name
        table = table_of(model)
        built = _built(
            ("insert_unless_exists", model, dialect, tuple(values), tuple(conflict)),
            lambda: (
                _insert_for(dialect, table)
                .values(_set(list(values)))
                .on_conflict_do_nothing(index_elements=list(conflict))
                .returning(table.c[conflict[0]])
            ),
        )
        await flush_pending(session)
        return (await session.execute(built, _bound(values))).first() is not None
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
    value = await increment_under(session, model, key, column, None)
    assert value is not None  # without a cap it always counts
    return value


async def increment_under(
    session: AsyncSession,
    model: type[DeclarativeBase],
    key: dict[str, Any],
    column: str,
    cap: int | None,
    *,
    by: int = 1,
    **created: Any,
) -> int | None:
    """Atomic capped counter: INSERT key (with the `created` columns) with `by`, or add `by`
    while that stays within `cap` (None: no cap). The new value, or None when the cap
    refused (nothing changed)."""
    if cap is not None and by > cap:
        return None
    inserted = {**key, **created, column: by}
    if _plain(model, inserted):
        dialect = session.get_bind().dialect.name

        def build() -> Any:
            counter = table_of(model).c[column]
            step = bindparam("b_by", type_=counter.type)
            return (
                _insert_for(dialect, table_of(model))
                .values(_set(list(inserted)))
                .on_conflict_do_update(
                    index_elements=list(key),
                    set_={column: counter + step},
                    where=None if cap is None else counter + step <= bindparam("b_cap"),
                )
                .returning(counter)
            )

        shape = ("increment_under", model, dialect, tuple(inserted), column, cap is None)
        built = _built(shape, build)
        await flush_pending(session)
        params = {**_bound(inserted), "b_by": by, "b_cap": cap}
        found = (await session.execute(built, params)).scalar_one_or_none()
        return None if found is None else int(found)
    col = getattr(model, column)
    stmt = (
        dialect_insert(session, model)
        .values(**key, **created, **{column: by})
        .on_conflict_do_update(
            index_elements=list(key),
            set_={column: col + by},
            where=None if cap is None else col + by <= cap,
        )
        .returning(col)
    )
    found = (await session.execute(stmt)).scalar_one_or_none()
    return None if found is None else int(found)


async def updated(
    session: AsyncSession, stmt: Update, params: Mapping[str, Any] | None = None
) -> int:
    """Run an UPDATE whose WHERE is its own guard; how many rows it changed. The session's
    loaded objects are left as they were (the caller refreshes or marks what it needs)."""
    result = await session.execute(stmt, params, execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)


async def guarded(
    session: AsyncSession, stmt: Update, params: Mapping[str, Any] | None = None
) -> bool:
    """A guarded UPDATE of one row (`UPDATE .. WHERE <the row> AND <guard>`): True if the
    guard let it through. Never a read and then a write, so concurrent callers cannot both
    pass."""
    return await updated(session, stmt, params) == 1


async def take_counter(
    session: AsyncSession,
    model: type[DeclarativeBase],
    key: dict[str, Any],
    *,
    n: int,
    cap: int | None,
    column: str = "count",
    **created: Any,
) -> bool:
    """Add `n` to the counter row `key` unless that passes `cap` (None: no cap): False, and
    nothing added, past it. One statement (`increment_under`): the row is inserted with `n`
    (and the `created` columns), or `n` is added under the cap. Only adds: a negative `n`
    would be checked against the table's constraints as a new row, before the conflict."""
    if n < 0:
        raise ValueError("take_counter adds; n must not be negative")
    return await increment_under(session, model, key, column, cap, by=n, **created) is not None


async def unused_code(
    session: AsyncSession, column: InstrumentedAttribute[str | None], merchant_id: str
) -> str:
    """A random 12-digit code (a voucher staff type in at the counter) that no row of
    `column`'s table has for this merchant yet."""
    model = column.class_
    while True:
        code = f"{secrets.randbelow(10**12):012d}"
        stmt = select(model.id).where(model.merchant_id == merchant_id, column == code)
        if (await session.execute(stmt)).first() is None:
            return code


def where_given(stmt: S, *filters: tuple[SQLColumnExpression[Any], object]) -> S:
    """`stmt` narrowed to `column == value` for each `(column, value)` whose value is given
    (not None): a list's optional filters."""
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def sweep_batch(
    stmt: S, due: SQLColumnExpression[Any], limit: int, *ties: SQLColumnExpression[Any]
) -> S:
    """A sweep's next `limit` rows, the longest due first (then by `ties`), locked FOR UPDATE
    SKIP LOCKED: rows another worker holds are left to it, not waited for."""
    return stmt.order_by(due, *ties).limit(limit).with_for_update(skip_locked=True)


async def insert_chunked(
    session: AsyncSession,
    model: type[DeclarativeBase],
    rows: Sequence[Mapping[str, Any]],
    chunk: int = 5000,
) -> int:
    """INSERT `rows` (history carried over in bulk) `chunk` at a time, each chunk one
    executemany; how many rows."""
    for start in range(0, len(rows), chunk):
        await session.execute(insert(model), rows[start : start + chunk])
    return len(rows)


async def insert_now(session: AsyncSession, objs: Sequence[DeclarativeBase]) -> None:
    """Write new objects of one model at once, as the session's flush would, and make them
    persistent in the session: one prebuilt INSERT (an executemany for several) instead of
    the unit-of-work flush, which cost more than the statement for an order's few rows.
    Every column gets its value: the one set on the object, else the column's Python
    default, else NULL (a column with only a server default is refused: its value would
    not be known here). A rollback expires them like any object the transaction loaded."""
    if not objs:
        return
    model = type(objs[0])
    mapper = model.__mapper__
    rows = []
    for obj in objs:
        if type(obj) is not model:
            raise TypeError("insert_now writes objects of one model at a time")
        state = obj.__dict__
        values = {}
        for attr in mapper.column_attrs:
            column = attr.columns[0]
            if attr.key in state:
                values[column.key] = state[attr.key]
            elif column.default is not None and column.default.is_scalar:
                values[column.key] = column.default.arg
            elif column.default is not None and column.default.is_callable:
                values[column.key] = column.default.arg(None)
            elif column.server_default is not None:
                raise ValueError(f"{model.__name__}.{attr.key} has only a server default")
            else:
                values[column.key] = None
        rows.append(values)
    await flush_pending(session)
    built = _built(("insert_now", model), lambda: insert(table_of(model)))
    await session.execute(built, rows if len(rows) > 1 else rows[0])
    for obj, values in zip(objs, rows, strict=True):
        for attr in mapper.column_attrs:
            set_committed_value(obj, attr.key, values[attr.columns[0].key])
        make_transient_to_detached(obj)
        session.add(obj)


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
    if _plain(model, values):
        table = table_of(model)
        built = _built(
            ("move_status", model, tuple(values)),
            lambda: (
                update(table)
                .where(
                    table.c.id == bindparam("b_row_id"),
                    table.c.status.in_(bindparam("b_before", expanding=True)),
                )
                .values(_set(list(values)))
                .returning(table.c.id)
            ),
        )
        await flush_pending(session)
        params = {**_bound(values), "b_row_id": obj.id, "b_before": list(allowed)}
        if (await session.execute(built, params)).first() is None:
            return False
        mark_committed(obj, **values)
        return True
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
