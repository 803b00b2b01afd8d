"""Test harness.

Every test runs on the embedded stack (SQLite file + in-process counters). When
GROWTHLOOP_TEST_DATABASE_URL / GROWTHLOOP_TEST_REDIS_URL are set, the same tests run
again on PostgreSQL + Redis. One database per pytest worker, migrated once with
Alembic; each test ends by truncating every table.

`make test` runs two pytest-xdist workers. What keeps them apart: each has its own
PostgreSQL database (`<name>_gw0`, `<name>_gw1`; `<name>_main` without xdist), its own
Redis key prefix for the counters, its own SQLite data dir (tmp_path_factory is per
worker), and at most 20 connections per runtime (db_pool_size below).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url

from growthloop.all_models import metadata
from growthloop.analytics.pipeline import ErasureGate
from growthloop.app import create_app
from growthloop.core.clock import FrozenClock
from growthloop.core.config import Settings
from growthloop.core.runtime import Runtime
from growthloop.identity import service as identity_service
from growthloop.migrate import upgrade
from growthloop.wiring import build_runtime

PG_URL = os.environ.get("GROWTHLOOP_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("GROWTHLOOP_TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai


# Tests that keep one worker busy for a minute or more. They start first, so that no worker
# is left running one of them alone at the end (`make test` lets an idle worker take tests
# another has not started yet: --dist worksteal). Only their SQLite or backend-less runs
# move, which keeps each worker's tests grouped by backend (one stack set-up each).
LONG_RUNNING = (
    "tests/test_schemathesis.py::",
    "tests/loyalty/test_ledger_stateful.py::",
    "tests/core/test_key_rotation.py::",
    "tests/test_readme.py::",
)


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by backend
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def starts_first(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("stack") if callspec else None
        return item.nodeid.startswith(LONG_RUNNING) and backend in (None, "sqlite")

    items.sort(key=lambda item: not starts_first(item))


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2 at production cost is ~0.3 s per hash or verify on a small runner, and nearly
    every test signs up a merchant and logs its owner in (make_shop). Hash cost has no
    bearing on what any test here checks; the CLI tests (tests/test_cli.py) run the real
    command in a subprocess, with production parameters. A hash made with other parameters
    still verifies: argon2 reads them from the hash."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            identity_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        yield


async def _fresh_pg_database(url: str, worker: str) -> str:
    import asyncpg  # type: ignore[import-untyped]

    parsed = make_url(url)
    name = f"{parsed.database or 'growthloop'}_{worker}"
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(False)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return parsed.set(database=name).render_as_string(False)


@dataclass
class Stack:
    name: str
    rt: Runtime
    clock: FrozenClock
    app: object


@pytest.fixture(scope="session", params=BACKENDS)
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    data_dir: Path = tmp_path_factory.mktemp(f"data-{request.param}")
    if request.param == "postgres":
        assert PG_URL is not None
        url = await _fresh_pg_database(PG_URL, worker)
        redis_url = REDIS_URL
    else:
        url = None
        redis_url = None
    settings = Settings(
        env="test",
        data_dir=data_dir,
        database_url=url,
        redis_url=redis_url,
        # Keys of this run only; a previous run's rate-limit windows must not leak in.
        redis_prefix=f"gltest:{worker}:{os.getpid()}:",
        dev_login=True,
        sandbox=True,
        run_sweeper=False,
        # Two xdist workers, each sometimes with a second API process, share one
        # PostgreSQL (max_connections 100): at most 20 connections per runtime.
        db_pool_size=10,
    )
    clock = FrozenClock(START)
    rt = build_runtime(settings, clock)
    await upgrade(rt.db.engine)
    app = create_app(settings, runtime=rt, run_sweeper=False)
    yield Stack(request.param, rt, clock, app)
    await rt.counters.close()
    await rt.db.dispose()


def _clear_event_files(root: Path) -> None:
    """The event store's files: each test starts with none (the DuckDB store keeps one
    folder per merchant under the data dir)."""
    for child in root.iterdir():
        if child.is_dir():
            shutil.rmtree(child)


async def _truncate(rt: Runtime) -> None:
    root = getattr(rt.analytics.store, "root", None)
    if root is not None:
        _clear_event_files(Path(root))
    rt.analytics.identities.clear()
    rt.analytics.merchants.clear()
    rt.analytics.gate = ErasureGate()  # a test that stopped mid-erasure leaves none closed
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    async with rt.db.engine.begin() as conn:
        if rt.db.dialect == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def rt(stack: Stack) -> AsyncIterator[Runtime]:
    stack.clock.set(START)
    for gateway in stack.rt.gateways.values():
        if hasattr(gateway, "fail_next_refunds"):
            gateway.fail_next_refunds = 0
            gateway.refunds.clear()
    yield stack.rt
    await _truncate(stack.rt)


@pytest.fixture
def clock(stack: Stack, rt: Runtime) -> FrozenClock:
    return stack.clock


@pytest.fixture
async def client(stack: Stack, rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=stack.app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
