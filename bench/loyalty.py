"""Loyalty points: ledger writes per second, and the expiry sweep over a million batches.

Part 1 (writes) calls `ledger.earn` (and a mix of earn + `ledger.spend`) directly, one
write per unit of work as a request does, from N concurrent asyncio tasks over many
members, for a fixed time. Each task owns a disjoint slice of the members (so tasks do
not queue on each other's row locks) and only spends what its member holds.

Part 2 (sweep) bulk-loads due points batches (expired in the past, nothing spent), their
member_loyalty rows and one "earn" ledger entry per batch with Core `insert()` executemany,
copies the data, then times:
  - raw:   a hand-written bulk SQL equivalent on the copy (INSERT .. SELECT of the expiry
           entries, UPDATE of the balances, one UPDATE points_batches SET remaining = 0);
  - sweep: `loyalty.tasks.expire_due_points(rt.db, rt.clock)`, as the sweeper runs it.
Both are checked afterwards with SQL: no due batch keeps points, every balance equals the
sum of its ledger, one 'expire' entry per batch. A sweep that does not finish within
--sweep-budget seconds is stopped and the whole part is run again at 100k batches, with
an extrapolation that says so.

Each backend gets a fresh data dir (SQLite) or fresh databases (PostgreSQL at
127.0.0.1:5432, user postgres, dropped at the end). This script prints figures; it never
asserts timings.

    .venv/bin/python bench/loyalty.py [--backends sqlite,postgres] [--seconds 10]
        [--tasks 1,20] [--batches 1000000] [--parts writes,sweep] [--sweep-budget 600]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import (
    load_average,
    pg_admin,
    pg_drop,
    pg_reset,
    pg_url,
    pg_version,
)
from sqlalchemy import (
    and_,
    event,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from growthloop.core.clock import Clock
from growthloop.core.config import Settings
from growthloop.core.ids import new_id
from growthloop.core.models import UTCDateTime
from growthloop.core.runtime import Runtime
from growthloop.loyalty import ledger
from growthloop.loyalty.errors import InsufficientPoints
from growthloop.loyalty.models import LedgerEntry, MemberLoyalty, PointsBatch
from growthloop.loyalty.tasks import expire_due_points
from growthloop.migrate import upgrade
from growthloop.wiring import build_runtime

PG_DB = "growthloop_bench_loyalty"
PG_DB_RAW = f"{PG_DB}_raw"  # the second copy, for the hand-written SQL baseline
MERCHANTS = [new_id() for _ in range(4)]

# part 1
WRITE_MEMBERS = 10_000
WARMUP_SECONDS = 1.0
EARN_POINTS = 100
SPEND_POINTS = 30
SPEND_SHARE = 0.5  # in the mix, the share of operations that spend (when the member can)

# part 2
FALLBACK_BATCHES = 100_000
LOAD_CHUNK_MEMBERS = 2_000  # members (x batches each) per executemany
PROGRESS_SECONDS = 15.0


def log(backend: str, message: str) -> None:
    print(f"[{backend}] {message}", flush=True)


# --- environment: runtimes and databases ---------------------------------------------------


async def pg_vacuum_analyze(db_name: str) -> None:
    """What autovacuum would do after a bulk load: statistics and hint bits."""
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{db_name}", timeout=5)
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


def make_runtime(data_dir: Path, database_url: str | None) -> Runtime:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(env="test", data_dir=data_dir, database_url=database_url, run_sweeper=False)
    return build_runtime(settings)


async def migrated_runtime(data_dir: Path, database_url: str | None) -> Runtime:
    rt = make_runtime(data_dir, database_url)
    await upgrade(rt.db.engine)
    return rt


# --- where the time goes: SQL statements timed at the cursor --------------------------------


def statement_label(statement: str) -> str:
    s = " ".join(statement.split()).upper()
    kind = s.split(" ", 1)[0]
    match = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", s)
    table = match.group(1).lower() if match else ""
    extra = " GROUP BY" if "GROUP BY" in s else ""
    return f"{kind} {table}{extra}".strip()


# What the sweep's statements are, by label (see statement_label).
SWEEP_STEPS = {
    "SELECT points_batches GROUP BY": "repo.members_with_due_batches",
    "SELECT member_loyalty": "repo.lock_existing_accounts",
    "SELECT points_batches": "repo.due_batches_for",
    "INSERT points_ledger": "ledger: bulk expiry entries",
    "UPDATE points_batches": "ledger: batches remaining=0",
    "UPDATE member_loyalty": "flush: balances",
}


class SqlTimer:
    """Time of each execution of each kind of statement, measured around the driver's
    execute (round trip included; the rest of a sweep's time is Python, ORM and commits).
    First and last executions are shown apart: a per-round query whose cost grows with the
    backlog shows it there."""

    def __init__(self) -> None:
        self.times: defaultdict[str, list[float]] = defaultdict(list)
        self._engine: Any = None

    def _before(self, conn: Connection, *_: Any) -> None:
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def _after(self, conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        elapsed = time.perf_counter() - conn.info["bench_t0"].pop()
        self.times[statement_label(statement)].append(elapsed)

    def attach(self, engine: AsyncEngine) -> SqlTimer:
        self._engine = engine.sync_engine
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)
        return self

    def detach(self) -> None:
        if self._engine is not None:
            event.remove(self._engine, "before_cursor_execute", self._before)
            event.remove(self._engine, "after_cursor_execute", self._after)
            self._engine = None

    def lines(self, wall: float) -> list[str]:
        out = [
            f"    {'statement':<32}{'what':<30}{'count':>7}{'total s':>10}{'% wall':>8}"
            f"{'first10 ms':>12}{'last10 ms':>11}"
        ]
        in_sql = 0.0
        for label, times in sorted(self.times.items(), key=lambda kv: -sum(kv[1])):
            total = sum(times)
            in_sql += total
            first, last = times[:10], times[-10:]
            out.append(
                f"    {label:<32}{SWEEP_STEPS.get(label, ''):<30}{len(times):>7}{total:>10.2f}"
                f"{total / wall * 100 if wall else 0.0:>8.1f}"
                f"{sum(first) / len(first) * 1000:>12.1f}{sum(last) / len(last) * 1000:>11.1f}"
            )
        other = wall - in_sql
        out.append(
            f"    {'(outside SQL execute)':<32}{'Python, ORM, commits':<30}{'':>7}{other:>10.2f}"
            f"{other / wall * 100 if wall else 0.0:>8.1f}"
        )
        return out


# --- part 1: ledger writes ------------------------------------------------------------------


@dataclass
class WriteResult:
    backend: str
    mix: str
    tasks: int
    seconds: float
    earns: int = 0
    spends: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def ops(self) -> int:
        return self.earns + self.spends


async def write_worker(
    rt: Runtime,
    members: list[str],
    balances: dict[str, int],
    mix: bool,
    result: WriteResult,
    measure_from: float,
    stop_at: float,
    seed: int,
) -> None:
    rng = random.Random(seed)
    merchant = MERCHANTS[0]
    while (start := time.monotonic()) < stop_at:
        member = members[rng.randrange(len(members))]
        spend = mix and balances[member] >= SPEND_POINTS and rng.random() < SPEND_SHARE
        key = f"bench:{new_id()}"
        try:
            async with rt.db.unit_of_work() as uow:
                now = rt.clock.now()
                if spend:
                    await ledger.spend(
                        uow.session,
                        merchant,
                        member,
                        SPEND_POINTS,
                        reason="bench_spend",
                        key=key,
                        ref=None,
                        now=now,
                    )
                else:
                    await ledger.earn(
                        uow.session,
                        merchant,
                        member,
                        EARN_POINTS,
                        reason="bench_earn",
                        key=key,
                        ref=None,
                        now=now,
                        expires_at=now + timedelta(days=365),
                    )
        except InsufficientPoints:
            result.errors["InsufficientPoints"] += 1
            continue
        except Exception as exc:
            result.errors[type(exc).__name__] += 1
            continue
        end = time.monotonic()
        balances[member] += -SPEND_POINTS if spend else EARN_POINTS
        if start >= measure_from and end <= stop_at:
            if spend:
                result.spends += 1
            else:
                result.earns += 1
            result.latencies_ms.append((end - start) * 1000)


async def run_writes(
    rt: Runtime,
    backend: str,
    members: list[str],
    balances: dict[str, int],
    tasks: int,
    mix: bool,
    seconds: float,
) -> WriteResult:
    result = WriteResult(backend, "earn+spend" if mix else "earn", tasks, seconds)
    now = time.monotonic()
    measure_from, stop_at = now + WARMUP_SECONDS, now + WARMUP_SECONDS + seconds
    await asyncio.gather(
        *(
            write_worker(
                rt, members[i::tasks], balances, mix, result, measure_from, stop_at, seed=i
            )
            for i in range(tasks)
        )
    )
    return result


async def check_writes(engine: AsyncEngine) -> str:
    """balance == sum of ledger, and unexpired batches hold exactly max(balance, 0)."""
    now = datetime.now(UTC)
    ledger_sums = (
        select(
            LedgerEntry.merchant_id, LedgerEntry.member_id, func.sum(LedgerEntry.delta).label("s")
        )
        .group_by(LedgerEntry.merchant_id, LedgerEntry.member_id)
        .subquery()
    )
    batch_sums = (
        select(
            PointsBatch.merchant_id,
            PointsBatch.member_id,
            func.sum(PointsBatch.remaining).label("s"),
        )
        .where(or_(PointsBatch.expires_at.is_(None), PointsBatch.expires_at > now))
        .group_by(PointsBatch.merchant_id, PointsBatch.member_id)
        .subquery()
    )
    ml = MemberLoyalty
    greatest = func.max if engine.dialect.name == "sqlite" else func.greatest
    async with engine.connect() as conn:
        accounts = (await conn.execute(select(func.count()).select_from(ml))).scalar_one()
        bad_ledger = (
            await conn.execute(
                select(func.count())
                .select_from(ml)
                .outerjoin(
                    ledger_sums,
                    and_(
                        ledger_sums.c.merchant_id == ml.merchant_id,
                        ledger_sums.c.member_id == ml.member_id,
                    ),
                )
                .where(ml.points != func.coalesce(ledger_sums.c.s, 0))
            )
        ).scalar_one()
        bad_batches = (
            await conn.execute(
                select(func.count())
                .select_from(ml)
                .outerjoin(
                    batch_sums,
                    and_(
                        batch_sums.c.merchant_id == ml.merchant_id,
                        batch_sums.c.member_id == ml.member_id,
                    ),
                )
                .where(func.coalesce(batch_sums.c.s, 0) != greatest(ml.points, 0))
            )
        ).scalar_one()
    verdict = "OK" if bad_ledger == 0 and bad_batches == 0 else "MISMATCH"
    return (
        f"{verdict}: {accounts} accounts; balance != sum(ledger): {bad_ledger}; "
        f"unexpired batches != balance: {bad_batches}"
    )


async def bench_writes(
    backend: str, tmp: Path, seconds: float, task_counts: list[int]
) -> tuple[list[WriteResult], str] | str:
    database_url = None
    if backend == "postgres":
        why = await pg_reset(PG_DB)
        if why:
            return f"PostgreSQL unreachable at 127.0.0.1:5432 ({why}); skipped"
        database_url = pg_url(PG_DB)
    rt = await migrated_runtime(tmp / "writes", database_url)
    results: list[WriteResult] = []
    try:
        members = [new_id() for _ in range(WRITE_MEMBERS)]
        balances = dict.fromkeys(members, 0)
        for tasks in task_counts:
            for mix in (False, True):
                label = "earn+spend" if mix else "earn"
                log(backend, f"writes: {label}, {tasks} task(s), {seconds:.0f}s...")
                results.append(
                    await run_writes(rt, backend, members, balances, tasks, mix, seconds)
                )
        check = await check_writes(rt.db.engine)
    finally:
        await rt.db.dispose()
        if backend == "postgres":
            await pg_drop(PG_DB)
    return results, check


# --- part 2: the expiry sweep ---------------------------------------------------------------


def member_chunks(
    batches: int, per_member: int, now: datetime, seed: int
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]]:
    """(member_loyalty rows, points_batches rows, points_ledger rows) per chunk of members.
    Every batch expired 1-181 days ago with nothing spent; one earn entry per batch."""
    rng = random.Random(seed)
    members = -(-batches // per_member)
    left = batches
    for first in range(0, members, LOAD_CHUNK_MEMBERS):
        accounts, batch_rows, entries = [], [], []
        for _ in range(first, min(first + LOAD_CHUNK_MEMBERS, members)):
            merchant, member = rng.choice(MERCHANTS), new_id()
            balance = 0
            for _ in range(min(per_member, left)):
                left -= 1
                expires_at = now - timedelta(days=1, minutes=rng.randrange(180 * 24 * 60))
                created_at = expires_at - timedelta(days=365)
                amount = rng.randint(1, 500)
                balance += amount
                batch_id = new_id(at=created_at)
                batch_rows.append(
                    {
                        "id": batch_id,
                        "merchant_id": merchant,
                        "member_id": member,
                        "amount": amount,
                        "remaining": amount,
                        "expires_at": expires_at,
                        "created_at": created_at,
                    }
                )
                entries.append(
                    {
                        "id": new_id(at=created_at),
                        "merchant_id": merchant,
                        "member_id": member,
                        "delta": amount,
                        "balance_after": balance,
                        "reason": "order_earn",
                        "ref": batch_id,
                        "idempotency_key": f"bench:{batch_id}:earn",
                        "batch_id": batch_id,
                        "allocations": {},
                        "expires_at": expires_at,
                        "created_at": created_at,
                    }
                )
            accounts.append(
                {
                    "merchant_id": merchant,
                    "member_id": member,
                    "points": balance,
                    "growth": 0,
                    "login_days": 0,
                    "invites": 0,
                    "checkin_streak": 0,
                    "enrolled_at": now - timedelta(days=600),
                }
            )
        yield accounts, batch_rows, entries


async def bulk_load(
    backend: str, engine: AsyncEngine, batches: int, per_member: int, now: datetime
) -> float:
    start = time.perf_counter()
    loaded, next_report = 0, batches // 10
    tables = (MemberLoyalty.__table__, PointsBatch.__table__, LedgerEntry.__table__)
    for chunk in member_chunks(batches, per_member, now, seed=1):
        async with engine.begin() as conn:
            for table, rows in zip(tables, chunk, strict=True):
                await conn.execute(insert(table), rows)
        loaded += len(chunk[1])
        if loaded >= next_report or loaded == batches:
            elapsed = time.perf_counter() - start
            log(
                backend,
                f"  loaded {loaded:,}/{batches:,} batches (+ ledger, accounts) "
                f"in {elapsed:.1f}s ({loaded / elapsed:,.0f} batches/s)",
            )
            next_report += batches // 10
    return time.perf_counter() - start


def raw_expire_statements(dialect: str, now: datetime) -> list[tuple[str, Any]]:
    """The sweep in three set-based statements. Entry ids are the batch ids in lower case
    (Crockford ids are upper case, so they never collide with a ULID)."""
    pb, ml = PointsBatch, MemberLoyalty
    due = and_(pb.remaining > 0, pb.expires_at <= now)
    running = func.sum(pb.remaining).over(
        partition_by=(pb.merchant_id, pb.member_id), order_by=(pb.expires_at, pb.id)
    )
    json_object = func.json_build_object if dialect == "postgresql" else func.json_object
    entries = (
        select(
            func.lower(pb.id),
            pb.merchant_id,
            pb.member_id,
            -pb.remaining,
            ml.points - running,
            literal_column("'expire'"),
            pb.id,
            literal_column("'expire:'") + pb.id,
            null(),
            json_object(pb.id, pb.remaining),
            null(),
            literal(now, UTCDateTime()),
        )
        .join_from(pb, ml, and_(ml.merchant_id == pb.merchant_id, ml.member_id == pb.member_id))
        .where(due)
    )
    columns = [
        "id",
        "merchant_id",
        "member_id",
        "delta",
        "balance_after",
        "reason",
        "ref",
        "idempotency_key",
        "batch_id",
        "allocations",
        "expires_at",
        "created_at",
    ]
    due_sums = (
        select(pb.merchant_id, pb.member_id, func.sum(pb.remaining).label("s"))
        .where(due)
        .group_by(pb.merchant_id, pb.member_id)
        .subquery()
    )
    return [
        ("INSERT points_ledger .. SELECT", insert(LedgerEntry).from_select(columns, entries)),
        (
            "UPDATE member_loyalty .. FROM",
            update(ml)
            .values(points=ml.points - due_sums.c.s)
            .where(ml.merchant_id == due_sums.c.merchant_id, ml.member_id == due_sums.c.member_id),
        ),
        ("UPDATE points_batches SET remaining=0", update(pb).where(due).values(remaining=0)),
    ]


async def raw_expire(engine: AsyncEngine, now: datetime) -> tuple[float, list[str]]:
    lines = []
    start = time.perf_counter()
    async with engine.begin() as conn:
        for label, statement in raw_expire_statements(engine.dialect.name, now):
            t0 = time.perf_counter()
            result = await conn.execute(statement)
            rows = getattr(result, "rowcount", -1)
            lines.append(f"    {label:<40}{rows:>9,} rows {time.perf_counter() - t0:>9.2f}s")
        t0 = time.perf_counter()
    lines.append(f"    {'COMMIT':<40}{'':>14}{time.perf_counter() - t0:>9.2f}s")
    return time.perf_counter() - start, lines


async def verify_expired(engine: AsyncEngine, batches: int) -> tuple[bool, str]:
    now = datetime.now(UTC)
    pb, le, ml = PointsBatch, LedgerEntry, MemberLoyalty
    sums = (
        select(le.merchant_id, le.member_id, func.sum(le.delta).label("s"))
        .group_by(le.merchant_id, le.member_id)
        .subquery()
    )
    start = time.perf_counter()
    async with engine.connect() as conn:
        left_due = (
            await conn.execute(select(func.count()).where(pb.expires_at <= now, pb.remaining > 0))
        ).scalar_one()
        accounts = (await conn.execute(select(func.count()).select_from(ml))).scalar_one()
        mismatched = (
            await conn.execute(
                select(func.count())
                .select_from(ml)
                .outerjoin(
                    sums,
                    and_(sums.c.merchant_id == ml.merchant_id, sums.c.member_id == ml.member_id),
                )
                .where(ml.points != func.coalesce(sums.c.s, 0))
            )
        ).scalar_one()
        non_zero = (
            await conn.execute(select(func.count()).select_from(ml).where(ml.points != 0))
        ).scalar_one()
        expire_entries = (
            await conn.execute(select(func.count()).where(le.reason == "expire"))
        ).scalar_one()
    ok = left_due == 0 and mismatched == 0 and expire_entries == batches and non_zero == 0
    verdict = "OK" if ok else "MISMATCH"
    return ok, (
        f"{verdict}: due batches with remaining > 0: {left_due}; "
        f"accounts with points != sum(ledger): {mismatched}/{accounts}; "
        f"accounts with points != 0: {non_zero}; "
        f"'expire' entries: {expire_entries:,} (batches {batches:,}) "
        f"[checked in {time.perf_counter() - start:.1f}s]"
    )


@dataclass
class SweepResult:
    backend: str
    batches: int
    members: int
    load_s: float = 0.0
    copy_s: float = 0.0
    raw_s: float = 0.0
    raw_lines: list[str] = field(default_factory=list)
    raw_check: str = ""
    sweep_s: float = 0.0
    finished: bool = False
    expired: int = 0  # returned by the sweep, or counted at flush when stopped
    sweep_check: str = ""
    sql_lines: list[str] = field(default_factory=list)
    rates: list[tuple[int, float]] = field(default_factory=list)  # (expired so far, rate)

    @property
    def ratio(self) -> float:
        return self.sweep_s / self.raw_s if self.raw_s and self.finished else float("nan")


class BudgetSpent(Exception):
    pass


class DeadlineClock(Clock):
    """The sweep reads the clock once at the start of each round: past the deadline, this
    stops it there (between two committed rounds, nothing half done)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def now(self) -> datetime:
        if time.monotonic() > self.deadline:
            raise BudgetSpent
        return super().now()


async def timed_sweep(backend: str, rt: Runtime, result: SweepResult, budget: float) -> None:
    """Run the sweep with a progress line every PROGRESS_SECONDS; stop it after `budget`."""
    flushed = [0]

    def count_expiries(conn: Any, clause: Any, multiparams: Any, params: Any, *_: Any) -> None:
        # The sweep writes its expiry entries with one bulk insert per round.
        table = getattr(clause, "table", None)
        if getattr(clause, "is_insert", False) and getattr(table, "name", "") == "points_ledger":
            flushed[0] += len(multiparams) if multiparams else 1

    async def progress(start: float) -> None:
        last_n, last_t = 0, start
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            n, t = flushed[0], time.perf_counter()
            rate = (n - last_n) / (t - last_t)
            result.rates.append((n, rate))
            log(
                backend,
                f"  sweep: {n:,}/{result.batches:,} expired ({n / result.batches:.0%}) "
                f"after {t - start:.0f}s; last {t - last_t:.0f}s at {rate:,.0f} batches/s",
            )
            last_n, last_t = n, t

    timer = SqlTimer().attach(rt.db.engine)
    event.listen(rt.db.engine.sync_engine, "after_execute", count_expiries)
    start = time.perf_counter()
    clock = DeadlineClock(time.monotonic() + budget)
    reporter = asyncio.create_task(progress(start))
    try:
        result.expired = await expire_due_points(rt.db, clock)
        result.finished = True
    except BudgetSpent:
        result.expired = flushed[0]  # every round before this one committed
    finally:
        result.sweep_s = time.perf_counter() - start
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        event.remove(rt.db.engine.sync_engine, "after_execute", count_expiries)
        timer.detach()
    result.sql_lines = timer.lines(result.sweep_s)


async def bench_sweep_once(
    backend: str, tmp: Path, batches: int, per_member: int, budget: float
) -> SweepResult | str:
    result = SweepResult(backend, batches, -(-batches // per_member))
    now = datetime.now(UTC)
    main_dir, raw_dir = tmp / f"sweep-{batches}", tmp / f"sweep-{batches}-raw"
    if backend == "postgres":
        why = await pg_reset(PG_DB)
        if why:
            return f"PostgreSQL unreachable at 127.0.0.1:5432 ({why}); skipped"
        await pg_drop(PG_DB_RAW)
    main_url = pg_url(PG_DB) if backend == "postgres" else None
    raw_url = pg_url(PG_DB_RAW) if backend == "postgres" else None
    try:
        rt = await migrated_runtime(main_dir, main_url)
        log(backend, f"sweep: loading {batches:,} due batches over {result.members:,} members...")
        try:
            result.load_s = await bulk_load(backend, rt.db.engine, batches, per_member, now)
        finally:
            await rt.db.dispose()

        # The second copy, for the raw baseline: a file copy, or a template database.
        start = time.perf_counter()
        if backend == "postgres":
            await pg_vacuum_analyze(PG_DB)
            why = await pg_admin(f'CREATE DATABASE "{PG_DB_RAW}" TEMPLATE "{PG_DB}"')
            if why:
                return f"could not copy the database ({why}); skipped"
        else:
            raw_dir.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal"):
                source = main_dir / f"growthloop.db{suffix}"
                if source.exists():
                    shutil.copyfile(source, raw_dir / source.name)
        result.copy_s = time.perf_counter() - start
        copy_note = " (after VACUUM ANALYZE)" if backend == "postgres" else ""
        log(backend, f"  copied the data for the raw baseline in {result.copy_s:.1f}s{copy_note}")

        raw_rt = make_runtime(raw_dir, raw_url)
        try:
            log(backend, "  raw SQL baseline...")
            result.raw_s, result.raw_lines = await raw_expire(raw_rt.db.engine, datetime.now(UTC))
            log(backend, f"  raw SQL baseline: {result.raw_s:.1f}s; verifying...")
            _, result.raw_check = await verify_expired(raw_rt.db.engine, batches)
        finally:
            await raw_rt.db.dispose()
        if backend == "postgres":
            await pg_drop(PG_DB_RAW)
        else:
            shutil.rmtree(raw_dir, ignore_errors=True)

        rt = make_runtime(main_dir, main_url)
        try:
            log(backend, f"  expire_due_points (budget {budget:.0f}s)...")
            await timed_sweep(backend, rt, result, budget)
            if result.finished:
                log(backend, f"  sweep: {result.sweep_s:.1f}s; verifying...")
                _, result.sweep_check = await verify_expired(rt.db.engine, batches)
            else:
                log(
                    backend,
                    f"  sweep stopped after the {budget:.0f}s budget: "
                    f"~{result.expired:,}/{batches:,} expired",
                )
        finally:
            await rt.db.dispose()
    finally:
        if backend == "postgres":
            await pg_drop(PG_DB, PG_DB_RAW)
        else:
            shutil.rmtree(main_dir, ignore_errors=True)
            shutil.rmtree(raw_dir, ignore_errors=True)
    return result


async def bench_sweep(
    backend: str, tmp: Path, batches: int, per_member: int, budget: float
) -> list[SweepResult] | str:
    first = await bench_sweep_once(backend, tmp, batches, per_member, budget)
    if isinstance(first, str):
        return first
    results = [first]
    if not first.finished and batches > FALLBACK_BATCHES:
        log(
            backend,
            f"sweep at {batches:,} did not finish within {budget:.0f}s: "
            f"running the sweep part again at {FALLBACK_BATCHES:,} batches",
        )
        second = await bench_sweep_once(backend, tmp, FALLBACK_BATCHES, per_member, budget)
        if isinstance(second, str):
            return second
        results.append(second)
    return results


# --- report ---------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(p / 100 * len(sorted_values) + 0.5 - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def print_writes(results: list[WriteResult], checks: dict[str, str]) -> None:
    print()
    print("== points-ledger writes (one ledger write per unit of work) ==")
    print(
        f"members: {WRITE_MEMBERS:,} (each task owns a disjoint slice)   "
        f"earn {EARN_POINTS} pts, spend {SPEND_POINTS} pts   warm-up {WARMUP_SECONDS:.0f}s"
    )
    print(f"earn+spend: {SPEND_SHARE:.0%} spends whenever the member holds enough points")
    header = (
        f"{'backend':<9}{'mix':<12}{'tasks':>6}{'secs':>6}{'writes':>9}{'writes/s':>10}"
        f"{'earn':>8}{'spend':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        lat = sorted(r.latencies_ms)
        print(
            f"{r.backend:<9}{r.mix:<12}{r.tasks:>6}{r.seconds:>6.0f}{r.ops:>9}"
            f"{r.ops / r.seconds:>10.1f}{r.earns:>8}{r.spends:>8}"
            f"{percentile(lat, 50):>9.2f}{percentile(lat, 95):>9.2f}{percentile(lat, 99):>9.2f}"
            f"{sum(r.errors.values()):>8}"
        )
    for r in results:
        if r.errors:
            print(f"[{r.backend}] {r.mix} x{r.tasks} errors: {dict(r.errors.most_common())}")
    for backend, check in checks.items():
        print(f"[{backend}] ledger check after the write runs: {check}")


def print_sweeps(results: list[SweepResult], budget: float) -> None:
    print()
    print("== expiry sweep: loyalty.tasks.expire_due_points vs hand-written bulk SQL ==")
    print(
        "load  = Core insert() executemany of accounts + batches + one earn entry per batch\n"
        "raw   = INSERT .. SELECT expiry entries + UPDATE balances + UPDATE batches, one "
        "transaction, on a copy of the same data\n"
        "ratio = sweep seconds ÷ raw seconds"
    )
    header = (
        f"{'backend':<9}{'batches':>10}{'members':>9}{'load s':>9}{'raw s':>9}"
        f"{'sweep s':>10}{'sweep b/s':>11}{'raw b/s':>11}{'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        sweep = f"{r.sweep_s:>10.1f}" if r.finished else f"{'>' + format(r.sweep_s, '.0f'):>10}"
        rate = (r.expired / r.sweep_s) if r.sweep_s else float("nan")
        raw_rate = r.batches / r.raw_s if r.raw_s else float("nan")
        print(
            f"{r.backend:<9}{r.batches:>10,}{r.members:>9,}{r.load_s:>9.1f}{r.raw_s:>9.2f}"
            f"{sweep}{rate:>11,.0f}{raw_rate:>11,.0f}{r.ratio:>8.1f}"
        )
    for r in results:
        print()
        print(f"[{r.backend}] {r.batches:,} batches")
        print(f"  raw SQL check:  {r.raw_check}")
        if r.finished:
            print(f"  sweep returned {r.expired:,}; sweep check: {r.sweep_check}")
        else:
            print(
                f"  sweep NOT FINISHED: stopped after the {budget:.0f}s budget with "
                f"~{r.expired:,} of {r.batches:,} expired ({r.expired / r.sweep_s:,.0f} b/s)"
            )
        if r.rates:
            print(
                f"  sweep progress every {PROGRESS_SECONDS:.0f}s (expired so far: b/s since last):"
            )
            cells = [f"{n:>9,}: {rate:>5,.0f}" for n, rate in r.rates]
            for i in range(0, len(cells), 6):
                print("   " + "  ".join(cells[i : i + 6]))
        print("  raw SQL statements:")
        for line in r.raw_lines:
            print(line)
        print(f"  sweep time by statement ({r.sweep_s:.1f}s wall; one execution per round):")
        for line in r.sql_lines:
            print(line)
    by_backend: dict[str, list[SweepResult]] = defaultdict(list)
    for r in results:
        by_backend[r.backend].append(r)
    for backend, runs in by_backend.items():
        big, small = runs[0], runs[-1]
        if big.finished:
            continue
        print()
        print(f"[{backend}] EXTRAPOLATED, not measured ({big.batches:,} batches):")
        last_rate = big.rates[-1][1] if big.rates else big.expired / big.sweep_s
        if last_rate > 0:
            rest = (big.batches - big.expired) / last_rate
            print(
                f"  - from the stopped run: {big.expired:,} expired in {big.sweep_s:.0f}s, "
                f"the rest at the last interval's {last_rate:,.0f} b/s ≈ {rest:,.0f}s more, "
                f"≈ {big.sweep_s + rest:,.0f}s in all"
            )
        if len(runs) > 1 and small.finished:
            linear = small.sweep_s * big.batches / small.batches
            print(
                f"  - linear from {small.batches:,}: {small.sweep_s:.1f}s × "
                f"{big.batches / small.batches:g} ≈ {linear:,.0f}s (assumes a constant cost per "
                f"batch; compare the per-round first10/last10 query times above)"
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated list")
    parser.add_argument("--parts", default="writes,sweep", help="writes, sweep or both")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per write run")
    parser.add_argument("--tasks", default="1,20", help="concurrent tasks per write run")
    parser.add_argument("--batches", type=int, default=1_000_000, help="due batches to sweep")
    parser.add_argument("--batches-per-member", type=int, default=10)
    parser.add_argument(
        "--sweep-budget", type=float, default=600.0, help="seconds before the sweep is stopped"
    )
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    args.tasks = [int(t) for t in args.tasks.split(",") if t.strip()]
    if set(args.backends) - {"sqlite", "postgres"}:
        parser.error("backends: sqlite, postgres")
    if not args.parts or args.parts - {"writes", "sweep"}:
        parser.error("parts: writes, sweep")
    if args.seconds <= 0 or args.batches <= 0 or args.batches_per_member <= 0:
        parser.error("--seconds, --batches and --batches-per-member must be positive")
    if not args.tasks or min(args.tasks) <= 0:
        parser.error("--tasks must be positive")
    return args


async def main() -> None:
    args = parse_args()
    print(
        f"python {sys.version.split()[0]}   sqlite {sqlite3.sqlite_version}   "
        f"nproc {len(os.sched_getaffinity(0))}   load average {load_average()}   "
        f"backends {','.join(args.backends)}   parts {','.join(sorted(args.parts))}",
        flush=True,
    )
    if "postgres" in args.backends:
        print(f"postgresql {await pg_version()} at 127.0.0.1:5432", flush=True)
    writes: list[WriteResult] = []
    checks: dict[str, str] = {}
    sweeps: list[SweepResult] = []
    with tempfile.TemporaryDirectory(prefix="growthloop-bench-loyalty-") as tmp:
        for backend in args.backends:
            if "writes" in args.parts:
                outcome = await bench_writes(backend, Path(tmp), args.seconds, args.tasks)
                if isinstance(outcome, str):
                    log(backend, outcome)
                    continue
                writes.extend(outcome[0])
                checks[backend] = outcome[1]
            if "sweep" in args.parts:
                swept = await bench_sweep(
                    backend, Path(tmp), args.batches, args.batches_per_member, args.sweep_budget
                )
                if isinstance(swept, str):
                    log(backend, swept)
                else:
                    sweeps.extend(swept)
    if writes:
        print_writes(writes, checks)
    if sweeps:
        print_sweeps(sweeps, args.sweep_budget)
    print()
    print(f"load average at the end: {load_average()} (other processes share this machine)")


if __name__ == "__main__":
    asyncio.run(main())
