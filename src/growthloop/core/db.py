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

A request's unit of work on SQLite runs its statements on the event loop's thread
(`core.sqlite_inline`): a handful of point queries cost microseconds, far less than
handing each call to aiosqlite's thread and back. Waiting for another process's writer
must not stop the loop, so there `BEGIN IMMEDIATE` retries with an asyncio sleep instead
of SQLite's busy timeout. Admin reads (reports, exports, long lists), sweeps, jobs and
the CLI keep aiosqlite's threads: a long query there never stalls the requests.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_

from growthloop.core import sqlite_inline
from growthloop.core.context import Context, bind

AfterCommit = Callable[[], Awaitable[None] | None]

# How long a statement on the loop's thread may wait for a lock (WAL readers never do;
# this bounds the rare wait, e.g. behind another process's checkpoint).
INLINE_BUSY_MS = 20
# How long an inline `BEGIN IMMEDIATE` waits for another process's writer, sleeping
# between tries, before the request fails.
WRITE_LOCK_WAIT_SECONDS = 30.0


def _sqlite_setup(engine: AsyncEngine, *, inline: bool) -> None:
    busy_ms = INLINE_BUSY_MS if inline else int(WRITE_LOCK_WAIT_SECONDS * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={busy_ms}",
            "foreign_keys=ON",
            "synchronous=NORMAL",
            "secure_delete=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if inline and mode == "IMMEDIATE":
            _begin_immediate(conn.connection.driver_connection)
        else:
            conn.exec_driver_sql(f"BEGIN {mode}")


def _begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock, sleeping on the loop (not in SQLite) while another
    process holds it. Runs inside SQLAlchemy's greenlet, so it may await."""
    raw: sqlite3.Connection = connection._conn
    try:
        raw.execute("BEGIN IMMEDIATE")  # uncontended: at once
        return
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
    # Held by another process: each further try fails at once (no busy wait in SQLite,
    # on the loop's thread) and the wait is an asyncio sleep between tries.
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + WRITE_LOCK_WAIT_SECONDS
        delay = 0.001
        while True:
            await_(asyncio.sleep(delay))
            delay = min(delay * 2, 0.05)
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
                if time.monotonic() > deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
    finally:
        raw.execute(f"PRAGMA busy_timeout={INLINE_BUSY_MS}")


# asyncpg's refusals, by name: the driver is an optional dependency.
_REFUSALS = frozenset({"TooManyConnectionsError", "CannotConnectNowError"})


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot serve right now (down, full, locked by
    another process) rather than that the request or the code is wrong: a retry may
    succeed, so the answer is a 503, not a 500."""
    if isinstance(exc, PoolTimeout | ConnectionError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if exc.connection_invalidated or isinstance(orig, ConnectionError):
        return True
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)
        return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    cause = getattr(orig, "__cause__", None)
    return type(orig).__name__ in _REFUSALS or type(cause).__name__ in _REFUSALS


def _sqlite_engine(url: str, kwargs: dict[str, Any], *, inline: bool) -> AsyncEngine:
    if inline:
        kwargs = kwargs | {
            "module": AsyncAdapt_aiosqlite_dbapi(sqlite_inline.inline_module(), sqlite3)
        }
    engine = create_async_engine(url, **kwargs)
    _sqlite_setup(engine, inline=inline)
    return engine


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
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, kwargs, inline=False)
            inline_engine = _sqlite_engine(url, kwargs, inline=True)
        else:
            self.engine = inline_engine = create_async_engine(url, **kwargs)
        self._inline_engine = inline_engine
        # (write, inline) -> sessions; on PostgreSQL all four share one engine.
        self._sessions = {
            (write, inline): async_sessionmaker(
                _writing(inline_engine if inline else self.engine, write and self.is_sqlite),
                expire_on_commit=False,
            )
            for write in (False, True)
            for inline in (False, True)
        }
        self._write_lock: asyncio.Lock | None = None
        # Bound to every unit of work's session (clock, event bus, directories).
        self.context: Context | None = None

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """Every engine this database runs statements through (SQLite has two)."""
        if self._inline_engine is self.engine:
            return (self.engine,)
        return (self.engine, self._inline_engine)

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
    async def unit_of_work(
        self, *, write: bool = True, inline: bool = False
    ) -> AsyncIterator[UnitOfWork]:
        """`inline`: on SQLite, run the statements on the loop's thread (a request's
        short work); otherwise on aiosqlite's threads. No difference on PostgreSQL."""
        async with self._writer_slot(write), self._sessions[write, inline]() as session:
            uow = UnitOfWork(session)
            bind(session, self.context, uow)
            try:
                yield uow
                if uow.rolled_back:
                    await session.rollback()
                else:
                    await uow.run_before_commit()
                    await session.commit()
            except BaseException:
                try:
                    await session.rollback()
                finally:  # what was done outside the database is undone even so
                    await uow.run_on_rollback()
                raise
        if uow.rolled_back:
            await uow.run_on_rollback()
            return
        await uow.run_after_commit()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._inline_engine is not self.engine:
            await self._inline_engine.dispose()


def _writing(engine: AsyncEngine, immediate: bool) -> AsyncEngine:
    return engine.execution_options(sqlite_begin="IMMEDIATE") if immediate else engine


class UnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.rolled_back = False
        self._after_commit: list[AfterCommit] = []
        self._on_rollback: list[AfterCommit] = []
        self._before_commit: list[AfterCommit] = []

    def before_commit(self, callback: AfterCommit) -> None:
        """Run `callback` last inside the transaction, just before it commits (not at all
        if it rolls back): a write to a row every request of a merchant writes (a counter)
        then holds that row's lock for the commit alone, not for all the work before it."""
        self._before_commit.append(callback)

    async def run_before_commit(self) -> None:
        while self._before_commit:
            callbacks, self._before_commit = self._before_commit, []
            await run_callbacks(callbacks)

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
