"""Engines and the unit of work.

The unit of work is the only place that commits: one per request (see
`routing.UnitOfWorkRoute`) or per job. Services receive its session and never commit.
After-commit callbacks (dispatching domain events, kicking the sweeper) run only when
the commit succeeded and are dropped on rollback; on-rollback callbacks undo what was
done outside the database (a unit taken from an in-memory or Redis stock pool).

SQLite gets WAL, a busy timeout, `secure_delete` (erased personal data must not linger
in free pages) and `BEGIN IMMEDIATE` for writing transactions, so two writers never
deadlock on a lock upgrade. Inside one process writers also queue on an asyncio lock,
which is fairer and cheaper than SQLite's busy-polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from growthloop.core.context import Context, bind

AfterCommit = Callable[[], Awaitable[None] | None]


def _sqlite_setup(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "busy_timeout=30000",
            "foreign_keys=ON",
            "synchronous=NORMAL",
            "secure_delete=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 30) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Connections are recycled rather than pinged: a pre-ping is a round trip per request.
        kwargs: dict[str, Any] = {"echo": echo, "pool_recycle": 1800}
        if not self.is_sqlite:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        else:
            kwargs.update(pool_size=10, max_overflow=40)
        self.engine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
            self._write_engine: AsyncEngine = self.engine.execution_options(
                sqlite_begin="IMMEDIATE"
            )
        else:
            self._write_engine = self.engine
        self._read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self._write_lock: asyncio.Lock | None = None
        # Bound to every unit of work's session (clock, event bus, directories).
        self.context: Context | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def _writer_slot(self, write: bool) -> AsyncIterator[None]:
        if not (write and self.is_sqlite):
            yield
            return
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        async with self._write_lock:
            yield

    @asynccontextmanager
    async def unit_of_work(self, *, write: bool = True) -> AsyncIterator[UnitOfWork]:
        async with self._writer_slot(write):
            maker = self._write_sessions if write else self._read_sessions
            async with maker() as session:
                uow = UnitOfWork(session)
                bind(session, self.context, uow)
                try:
                    yield uow
                    if uow.rolled_back:
                        await session.rollback()
                    else:
                        await session.commit()
                except BaseException:
                    await session.rollback()
                    await uow.run_on_rollback()
                    raise
        if uow.rolled_back:
            await uow.run_on_rollback()
            return
        await uow.run_after_commit()

    async def dispose(self) -> None:
        await self.engine.dispose()


class UnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.rolled_back = False
        self._after_commit: list[AfterCommit] = []
        self._on_rollback: list[AfterCommit] = []

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)

    def on_rollback(self, callback: AfterCommit) -> None:
        """Undo something done outside the database (a unit taken from Redis) when this
        unit of work does not commit."""
        self._on_rollback.append(callback)

    def mark_rollback(self) -> None:
        """Discard everything this unit of work wrote (e.g. the response is an error)."""
        self.rolled_back = True

    async def run_after_commit(self) -> None:
        callbacks, self._after_commit, self._on_rollback = self._after_commit, [], []
        await run_callbacks(callbacks)

    async def run_on_rollback(self) -> None:
        callbacks, self._after_commit, self._on_rollback = self._on_rollback, [], []
        await run_callbacks(callbacks)


async def run_callbacks(callbacks: list[AfterCommit]) -> None:
    for callback in callbacks:
        result = callback()
        if result is not None:
            await result
