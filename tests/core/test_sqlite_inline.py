"""A request's SQLite unit of work runs on the loop's thread (core.db, core.sqlite_inline).

What must hold: the statements behave as through aiosqlite's thread (results, errors,
rollback), a writer waiting for another process's write lock does not stop the loop, a
lock never released fails the request instead of hanging it, and a database that cannot
serve (locked, refused) is answered 503 while a real error stays a 500.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from growthloop.core import db as db_module
from growthloop.core.db import Database
from growthloop.core.runtime import Runtime
from tests.core.conftest import SQLITE_FILE


def hold_write_lock(path: Path, seconds: float, taken: threading.Event) -> None:
    """Another process's writer: BEGIN IMMEDIATE, hold, commit."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (id, v) VALUES (1, 'other')")
    taken.set()
    time.sleep(seconds)
    other.execute("COMMIT")
    other.close()


async def test_inline_unit_of_work_reads_writes_and_rolls_back(database: Database) -> None:
    async with database.unit_of_work(inline=True) as uow:
        await uow.session.execute(text("INSERT INTO t (id, v) VALUES (1, 'a')"))
    with pytest.raises(IntegrityError):
        async with database.unit_of_work(inline=True) as uow:
            await uow.session.execute(text("INSERT INTO t (id, v) VALUES (2, 'b')"))
            await uow.session.execute(text("INSERT INTO t (id, v) VALUES (1, 'dup')"))
    async with database.unit_of_work(write=False, inline=True) as uow:
        rows = (await uow.session.execute(text("SELECT id, v FROM t"))).all()
    assert [tuple(r) for r in rows] == [(1, "a")]  # the failed unit left nothing


async def test_waiting_for_another_writer_does_not_stop_the_loop(
    database: Database, tmp_path: Path
) -> None:
    taken = threading.Event()
    holder = threading.Thread(
        target=hold_write_lock, args=(tmp_path / SQLITE_FILE, 0.4, taken), daemon=True
    )
    holder.start()
    await asyncio.to_thread(taken.wait, 5)

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    async with database.unit_of_work(inline=True) as uow:
        await uow.session.execute(text("INSERT INTO t (id, v) VALUES (2, 'mine')"))
    waited = time.monotonic() - started
    ticking.cancel()
    holder.join(5)

    assert waited >= 0.3  # it did wait for the other writer's commit ...
    assert ticks >= 10  # ... while the loop went on running other tasks
    async with database.unit_of_work(write=False, inline=True) as uow:
        rows = (await uow.session.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
    assert [tuple(r) for r in rows] == [(1, "other"), (2, "mine")]


async def test_a_lock_never_released_fails_the_writer(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "WRITE_LOCK_WAIT_SECONDS", 0.2)
    taken = threading.Event()
    holder = threading.Thread(
        target=hold_write_lock, args=(tmp_path / SQLITE_FILE, 1.0, taken), daemon=True
    )
    holder.start()
    await asyncio.to_thread(taken.wait, 5)
    with pytest.raises(OperationalError, match="locked") as failed:
        async with database.unit_of_work(inline=True) as uow:
            await uow.session.execute(text("INSERT INTO t (id, v) VALUES (3, 'late')"))
    holder.join(5)
    assert db_module.unavailable(failed.value)  # answered 503 (core.errors), not 500


def _busy() -> OperationalError:
    orig = sqlite3.OperationalError("database is locked")
    orig.sqlite_errorcode = sqlite3.SQLITE_BUSY
    return OperationalError("BEGIN IMMEDIATE", None, orig)


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (_busy, 503),
        (lambda: ConnectionRefusedError(111, "Connect call failed"), 503),
        (lambda: OperationalError("SELECT", None, sqlite3.OperationalError("no such table")), 500),
    ],
    ids=["locked", "refused", "a-bug"],
)
async def test_a_database_that_cannot_serve_is_a_503_and_a_bug_stays_a_500(
    client: httpx.AsyncClient,
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    failure: Callable[[], Exception],
    status: int,
) -> None:
    def failing(**_: object) -> None:
        raise failure()

    monkeypatch.setattr(rt.db, "unit_of_work", failing)
    r = await client.get("/v1/products", params={"merchant_id": "01J00000000000000000000000"})
    assert r.status_code == status
    expected = "service_unavailable" if status == 503 else "internal_error"
    assert r.json()["error"]["code"] == expected
    if status == 503:
        assert r.headers["retry-after"] == "1"
