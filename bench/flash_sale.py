"""A flash-sale rush through the HTTP API, per stock backend, next to the backend alone.

Each configuration (stock backend on a database) gets a fresh data dir (and, for
PostgreSQL, a fresh database), a merchant bootstrapped with the CLI and its own
`growthloop serve` subprocess with GROWTHLOOP_STOCK_BACKEND set. A product with stock
1,000 gets a flash sale of 100 units, one per member; 1,000 members log in with the dev
platform, then every member makes 3 purchase attempts, all 3,000 in a random order with
200 requests in flight, so most attempts arrive after the sell-out, as in a real rush.

Afterwards the API must agree with what the members saw: exactly 100 units sold (never
more), the sale holding what was sold with nothing left, and no member with two orders.

The limit we are measured against: the same workload (a fresh pool of 100 units, 1,000
holders x 3 takes, shuffled) sent straight to the stock backend in this process, in the
same run: `MemoryStock.take` in a loop; `RedisStock.take` from 200 asyncio tasks (and a
bare INCR round trip from 200 tasks as the floor); `SqlStock.take` in one transaction per
take from 20 tasks, on the database the server used. ratio = attempts/s ÷ raw ops/s.

This script prints figures; it never asserts timings.

    .venv/bin/python bench/flash_sale.py [--configs memory-sqlite,sql-sqlite,sql-postgres,
        redis-postgres] [--members 1000] [--units 100] [--attempts 3] [--in-flight 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from harness import (
    ADMIN_EMAIL,
    admin_login,
    base_env,
    create_merchant,
    error_lines,
    expect,
    free_port,
    load_average,
    login_members,
    percentile,
    pg_drop,
    pg_reset,
    pg_url,
    pg_version,
    start_server,
    stop_server,
    wait_healthy,
)

from growthloop.core.db import Database
from growthloop.core.kv import redis_client
from growthloop.core.stock import HolderLimitReached, PoolSoldOut, PoolState
from growthloop.core.stock.memory import MemoryStock
from growthloop.core.stock.sql import SqlStock

PG_DB_PREFIX = "growthloop_bench_flash"
REDIS_URL = "redis://127.0.0.1:6379/13"  # the bench's own database number
SERVER_REDIS_PREFIX = "gl:"  # what the server writes under (growthloop.core.kv / stock)
RAW_REDIS_PREFIX = "glbench:"  # what this script writes under, deleted at the end
PRODUCT_STOCK = 1000
PRODUCT_PRICE = 1800
SALE_PRICE = 990
LOGIN_IN_FLIGHT = 50
HTTP_TIMEOUT = 60.0
RUSH_BUDGET_SECONDS = 90.0  # no new attempt is sent after this
RAW_SECONDS = 3.0  # per raw measurement, in whole rounds (at least one round)
RAW_MAX_ROUNDS = 1000
SQL_RAW_TASKS = 20
SQL_RAW_SECONDS = 8.0  # SQL takes are slow: a round may be cut short at this deadline

CONFIGS = {  # name -> (stock backend, database)
    "memory-sqlite": ("memory", "sqlite"),
    "sql-sqlite": ("sql", "sqlite"),
    "sql-postgres": ("sql", "postgres"),
    "redis-postgres": ("redis", "postgres"),
}


def log(config: str, message: str) -> None:
    print(f"[{config}] {message}", flush=True)


@dataclass
class Raw:
    """The backend alone: `ops` takes (wins + refusals) in `seconds`."""

    label: str
    tasks: int
    ops: int = 0
    seconds: float = 0.0
    rounds: int = 0
    wins: int = 0
    sold_out: int = 0
    limit: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    bad_rounds: int = 0  # rounds that did not sell exactly the pool's units
    note: str = ""

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else float("nan")


@dataclass
class Rush:
    config: str
    attempts: int = 0  # answered (any status) inside the timed phase
    not_sent: int = 0  # left over when the time budget ran out
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # "201", "409 sold_out", ...
    buyers: list[str] = field(default_factory=list)  # member_id of every 201
    checks: list[tuple[bool, str]] = field(default_factory=list)
    raws: list[Raw] = field(default_factory=list)
    error_log_lines: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)
    admin_view: str = ""

    @property
    def attempts_per_s(self) -> float:
        return self.attempts / self.seconds if self.seconds else 0.0

    @property
    def sold(self) -> int:
        return self.statuses["201"]

    @property
    def status_5xx(self) -> int:
        return sum(n for k, n in self.statuses.items() if k[:1] == "5")

    @property
    def transport_errors(self) -> int:
        return sum(n for k, n in self.statuses.items() if not k[:1].isdigit())

    @property
    def server_errors(self) -> int:
        return self.status_5xx + self.transport_errors


# --- environment: processes, ports, databases, Redis ---------------------------------------


async def redis_version() -> str | None:
    """The Redis server's version, or None when it is unreachable."""
    try:
        r = redis_client(REDIS_URL)
    except ImportError:
        return None
    try:
        info = await asyncio.wait_for(r.info("server"), timeout=5)
        return str(info.get("redis_version", "?"))
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            await r.aclose()


async def redis_delete(patterns: list[str], keys: list[str]) -> int:
    """Delete exactly these keys and those matching these patterns (SCAN, never FLUSHDB)."""
    r = redis_client(REDIS_URL)
    deleted = 0
    try:
        found = list(keys)
        for pattern in patterns:
            found += [k async for k in r.scan_iter(match=pattern, count=1000)]
        for i in range(0, len(found), 500):
            deleted += int(await r.delete(*found[i : i + 500]))
    finally:
        await r.aclose()
    return deleted


def redis_glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]{}\\" else c for c in text)


def log_tail(log_path: Path, lines: int = 30) -> list[str]:
    return log_path.read_text(errors="replace").splitlines()[-lines:]


# --- API calls ------------------------------------------------------------------------------


async def setup_sale(client: httpx.AsyncClient, units: int) -> tuple[str, str]:
    """Admin login, a product with stock 1,000, a running flash sale of `units`, 1 each."""
    admin = await admin_login(client)
    auth = {"Authorization": f"Bearer {admin}"}
    product = expect(
        await client.post(
            "/v1/admin/products",
            json={"name": "Bench mooncake", "price": PRODUCT_PRICE, "stock": PRODUCT_STOCK},
            headers=auth,
        ),
        "create product",
    )
    now = datetime.now(UTC)
    sale = expect(
        await client.post(
            "/v1/admin/flash-sales",
            json={
                "product_id": product["id"],
                "price": SALE_PRICE,
                "stock": units,
                "starts_at": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
                "per_member_limit": 1,
            },
            headers=auth,
        ),
        "create flash sale",
    )
    return admin, str(sale["id"])


def status_key(resp: httpx.Response) -> str:
    """201, or the status and the error code of the body, e.g. `409 sold_out`."""
    if resp.status_code == 201:
        return "201"
    try:
        code = resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "?"
    return f"{resp.status_code} {code}"


async def rush(
    client: httpx.AsyncClient, sale_id: str, attempts: list[str], in_flight: int, result: Rush
) -> None:
    """`in_flight` workers each keep one purchase attempt in flight until none is left."""
    path = f"/v1/flash-sales/{sale_id}/purchase"
    next_index = [0]
    start = time.monotonic()
    stop_sending = start + RUSH_BUDGET_SECONDS

    async def worker() -> None:
        while (i := next_index[0]) < len(attempts) and time.monotonic() < stop_sending:
            next_index[0] += 1
            headers = {"Authorization": f"Bearer {attempts[i]}"}
            sent = time.monotonic()
            try:
                resp = await client.post(path, json={}, headers=headers)
            except httpx.HTTPError as exc:
                result.statuses[type(exc).__name__] += 1
                continue
            result.latencies_ms.append((time.monotonic() - sent) * 1000)
            key = status_key(resp)
            result.statuses[key] += 1
            if key == "201":
                result.buyers.append(str(resp.json().get("member_id")))

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    result.seconds = time.monotonic() - start
    result.attempts = sum(result.statuses.values())
    result.not_sent = len(attempts) - next_index[0]


async def verify(
    client: httpx.AsyncClient, admin: str, sale_id: str, units: int, result: Rush
) -> None:
    sold = result.sold
    checks = result.checks
    checks.append((sold == units, f"units sold (201s) = {sold}, the sale's units = {units}"))
    unique = len(set(result.buyers))
    checks.append(
        (unique == len(result.buyers), f"member_id of the {sold} orders: {unique} distinct")
    )
    try:
        resp = await client.get(
            f"/v1/admin/flash-sales/{sale_id}", headers={"Authorization": f"Bearer {admin}"}
        )
        sale = expect(resp, "read flash sale")
    except (RuntimeError, httpx.HTTPError) as exc:
        checks.append((False, f"GET /v1/admin/flash-sales/{{id}}: {exc}"))
        return
    result.admin_view = ", ".join(
        f"{k}={sale.get(k)}" for k in ("status", "stock", "stock_left", "held", "sold", "buyers")
    )
    checks.append((sale["held"] == sold, f"admin: held = {sale['held']} (units sold {sold})"))
    checks.append(
        (
            sale["stock_left"] == units - sold,
            f"admin: stock_left = {sale['stock_left']} (expected {units} - {sold})",
        )
    )
    checks.append((result.status_5xx == 0, f"5xx responses: {result.status_5xx}"))
    checks.append(
        (
            result.transport_errors == 0,
            f"transport errors (no HTTP response; httpx exception names in the statuses): "
            f"{result.transport_errors}",
        )
    )


# --- the backends alone ---------------------------------------------------------------------


def holder_ids(members: int) -> list[str]:
    return [f"{i:026d}" for i in range(members)]  # member ids are 26 characters


def shuffled_attempts(holders: list[str], per_holder: int, seed: int) -> list[str]:
    attempts = holders * per_holder
    random.Random(seed).shuffle(attempts)
    return attempts


def new_pool() -> str:
    return f"bench:{uuid.uuid4().hex}"


def tally_take(raw: Raw, outcome: str) -> None:
    raw.ops += 1
    if outcome == "win":
        raw.wins += 1
    elif outcome == "sold_out":
        raw.sold_out += 1
    elif outcome == "limit":
        raw.limit += 1
    else:
        raw.errors[outcome] += 1


async def raw_memory(holders: list[str], per_holder: int, units: int) -> Raw:
    """MemoryStock.take in a loop, one fresh pool per round."""
    raw = Raw("memory (in-process)", tasks=1)

    async def loader(pool: str) -> PoolState:
        return PoolState(stock=units)

    stock = MemoryStock(loader)
    start = time.perf_counter()
    while raw.rounds < RAW_MAX_ROUNDS and (
        raw.rounds == 0 or time.perf_counter() - start < RAW_SECONDS
    ):
        pool, wins = new_pool(), raw.wins
        for holder in shuffled_attempts(holders, per_holder, raw.rounds):
            try:
                await stock.take(None, pool, holder, 1, 1)
                outcome = "win"
            except PoolSoldOut:
                outcome = "sold_out"
            except HolderLimitReached:
                outcome = "limit"
            tally_take(raw, outcome)
        stock.forget(pool)
        raw.rounds += 1
        raw.bad_rounds += raw.wins - wins != units
    raw.seconds = time.perf_counter() - start
    return raw


async def run_concurrent(
    attempts: list[str], tasks: int, take: Any, raw: Raw, deadline: float
) -> bool:
    """`tasks` tasks take through `take(holder)` until the list or the time is spent;
    True when the whole list was taken."""
    next_index = [0]

    async def worker() -> None:
        while (i := next_index[0]) < len(attempts) and time.perf_counter() < deadline:
            next_index[0] += 1
            try:
                await take(attempts[i])
                outcome = "win"
            except PoolSoldOut:
                outcome = "sold_out"
            except HolderLimitReached:
                outcome = "limit"
            except Exception as exc:
                outcome = type(exc).__name__
            tally_take(raw, outcome)

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return next_index[0] >= len(attempts)


async def raw_redis(holders: list[str], per_holder: int, units: int, tasks: int) -> list[Raw]:
    """RedisStock.take from `tasks` tasks, one fresh pool per round; then a bare INCR."""
    from growthloop.core.stock.redis import RedisStock

    async def loader(pool: str) -> PoolState:
        return PoolState(stock=units)

    raw = Raw(f"redis RedisStock.take (x{tasks} tasks)", tasks=tasks)
    stock = RedisStock(REDIS_URL, loader, prefix=RAW_REDIS_PREFIX)
    try:
        start = time.perf_counter()
        while raw.rounds < RAW_MAX_ROUNDS and (
            raw.rounds == 0 or time.perf_counter() - start < RAW_SECONDS
        ):
            pool, wins = new_pool(), raw.wins

            async def take(holder: str, pool: str = pool) -> None:
                await stock.take(None, pool, holder, 1, 1)

            attempts = shuffled_attempts(holders, per_holder, raw.rounds)
            await run_concurrent(attempts, tasks, take, raw, deadline=float("inf"))
            raw.rounds += 1
            raw.bad_rounds += raw.wins - wins != units
        raw.seconds = time.perf_counter() - start
    finally:
        await stock.close()

    floor = Raw(f"redis bare INCR (x{tasks} tasks)", tasks=tasks, note="floor: one round trip")
    r = redis_client(REDIS_URL)
    key = f"{RAW_REDIS_PREFIX}incr"
    try:
        start = time.perf_counter()
        stop_at = start + RAW_SECONDS

        async def incr() -> None:
            while time.perf_counter() < stop_at:
                try:
                    await r.incr(key)
                    floor.ops += 1
                except Exception as exc:
                    floor.errors[type(exc).__name__] += 1

        await asyncio.gather(*(incr() for _ in range(tasks)))
        floor.seconds = time.perf_counter() - start
    finally:
        await r.aclose()
    return [raw, floor]


async def raw_sql(
    database_url: str, label: str, holders: list[str], per_holder: int, units: int
) -> Raw:
    """SqlStock.take in one unit of work per take from SQL_RAW_TASKS tasks, on the
    database the server used (migrated), one fresh pool per round."""
    raw = Raw(f"{label} SqlStock.take (x{SQL_RAW_TASKS} tasks)", tasks=SQL_RAW_TASKS)
    db = Database(database_url, pool_size=SQL_RAW_TASKS)
    stock = SqlStock()
    try:
        start = time.perf_counter()
        deadline = start + SQL_RAW_SECONDS
        while raw.rounds < RAW_MAX_ROUNDS and (
            raw.rounds == 0 or time.perf_counter() - start < RAW_SECONDS
        ):
            pool, wins = new_pool(), raw.wins
            async with db.unit_of_work() as uow:
                await stock.open_pool(uow.session, pool, units)

            async def take(holder: str, pool: str = pool) -> None:
                async with db.unit_of_work() as uow:
                    await stock.take(uow.session, pool, holder, 1, 1)

            attempts = shuffled_attempts(holders, per_holder, raw.rounds)
            finished = await run_concurrent(attempts, SQL_RAW_TASKS, take, raw, deadline)
            raw.rounds += 1
            if not finished:
                raw.note = f"last round cut at the {SQL_RAW_SECONDS:.0f}s deadline"
                break
            raw.bad_rounds += raw.wins - wins != units
        raw.seconds = time.perf_counter() - start
    finally:
        await db.dispose()
    return raw


# --- one configuration ----------------------------------------------------------------------


async def bench_config(config: str, args: argparse.Namespace, redis_ok: bool) -> Rush | str:
    """The rush and the raw figures for one configuration; a string says why skipped."""
    backend, database = CONFIGS[config]
    database_url: str | None = None
    db_name = f"{PG_DB_PREFIX}_{backend}"
    if backend == "redis" and not redis_ok:
        return f"Redis unreachable at {REDIS_URL}; skipped"
    if database == "postgres":
        why = await pg_reset(db_name)
        if why:
            return f"PostgreSQL unreachable at 127.0.0.1:5432 ({why}); skipped"
        database_url = pg_url(db_name)

    result = Rush(config)
    sale_id = ""
    holders = holder_ids(args.members)
    try:
        with tempfile.TemporaryDirectory(prefix=f"growthloop-bench-flash-{config}-") as tmp:
            data_dir = Path(tmp) / "data"
            data_dir.mkdir()
            env = base_env(data_dir, database_url)
            merchant = await asyncio.to_thread(create_merchant, env)

            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            server_env = env | {
                "GROWTHLOOP_DEV_LOGIN": "1",
                "GROWTHLOOP_SANDBOX": "1",
                "GROWTHLOOP_LOG_LEVEL": "WARNING",
                "GROWTHLOOP_STOCK_BACKEND": backend,
                # All bench traffic comes from 127.0.0.1: the per-address limit is lifted,
                # and the per-member one sits above the attempts each member makes.
                "GROWTHLOOP_FLASH_SALE_ATTEMPTS_PER_IP": "1000000",
                "GROWTHLOOP_FLASH_SALE_ATTEMPTS_PER_MEMBER": str(max(100, args.attempts)),
            }
            if backend == "redis":
                server_env["GROWTHLOOP_REDIS_URL"] = REDIS_URL
            log_path = Path(tmp) / "server.log"
            proc = start_server(port, server_env, log_path)
            try:
                await wait_healthy(base_url, proc, within_s=60)
                limits = httpx.Limits(
                    max_connections=args.in_flight, max_keepalive_connections=args.in_flight
                )
                async with httpx.AsyncClient(
                    base_url=base_url, limits=limits, timeout=HTTP_TIMEOUT
                ) as client:
                    admin, sale_id = await setup_sale(client, args.units)
                    log(config, f"logging {args.members:,} members in...")
                    start = time.monotonic()
                    tokens = await login_members(
                        client,
                        merchant["merchant_id"],
                        args.members,
                        prefix="bench-member",
                        in_flight=LOGIN_IN_FLIGHT,
                    )
                    log(config, f"  logged in in {time.monotonic() - start:.1f}s")
                    attempts = shuffled_attempts(tokens, args.attempts, seed=42)
                    log(
                        config,
                        f"rush: {len(attempts):,} purchase attempts, {args.in_flight} in flight...",
                    )
                    await rush(client, sale_id, attempts, args.in_flight, result)
                    log(
                        config,
                        f"  {result.attempts:,} answered in {result.seconds:.2f}s; verifying...",
                    )
                    await verify(client, admin, sale_id, args.units, result)
            except Exception:
                log(config, "the run broke off; server log tail:")
                for line in log_tail(log_path):
                    print(f"    {line[:500]}")
                raise
            finally:
                stop_server(proc)
                result.error_log_lines = error_lines(log_path)
                result.log_tail = log_tail(log_path)

            log(config, "raw backend figures...")
            if backend == "memory":
                result.raws.append(await raw_memory(holders, args.attempts, args.units))
            elif backend == "redis":
                result.raws += await raw_redis(holders, args.attempts, args.units, args.in_flight)
            else:
                url = database_url or (
                    f"sqlite+aiosqlite:///{(data_dir / 'growthloop.db').resolve()}"
                )
                result.raws.append(await raw_sql(url, database, holders, args.attempts, args.units))
    finally:
        if database == "postgres":
            await pg_drop(db_name)
        if backend == "redis":
            await cleanup_redis(sale_id)
    return result


async def cleanup_redis(sale_id: str) -> None:
    """The server's keys for this sale and this run (stock pool, member and address
    counters, the admin-login counter) and everything under the bench's own prefix."""
    p = SERVER_REDIS_PREFIX
    patterns = [f"{redis_glob_escape(RAW_REDIS_PREFIX)}*"]
    if sale_id:
        patterns += [
            f"{p}{redis_glob_escape(f'stock:{{flash:{sale_id}}}')}:*",
            f"{p}{redis_glob_escape(f'flash:{sale_id}')}:*",
        ]
    keys = [f"{p}flash:ip:127.0.0.1", f"{p}admin-login:{ADMIN_EMAIL}:127.0.0.1"]
    with contextlib.suppress(Exception):
        await redis_delete(patterns, keys)


# --- report ---------------------------------------------------------------------------------


def print_report(results: list[Rush], args: argparse.Namespace) -> None:
    print()
    print(
        f"== flash-sale rush: {args.members:,} members x {args.attempts} attempts for "
        f"{args.units} units (1 per member), {args.in_flight} requests in flight =="
    )
    print("attempts = purchase requests answered; sold = 201s")
    print("raw      = the backend's own take, same workload, in this process (table below)")
    print("ratio    = attempts/s ÷ raw take ops/s")
    header = (
        f"{'config':<16}{'attempts':>9}{'secs':>7}{'attempts/s':>11}{'p50 ms':>9}"
        f"{'p95 ms':>9}{'p99 ms':>9}{'sold':>6}{'5xx/err':>8}{'raw ops/s':>11}{'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        lat = sorted(r.latencies_ms)
        raw = r.raws[0].ops_per_s if r.raws else float("nan")
        ratio = r.attempts_per_s / raw if raw else float("nan")
        print(
            f"{r.config:<16}{r.attempts:>9}{r.seconds:>7.2f}{r.attempts_per_s:>11.1f}"
            f"{percentile(lat, 50):>9.1f}{percentile(lat, 95):>9.1f}{percentile(lat, 99):>9.1f}"
            f"{r.sold:>6}{r.server_errors:>8}{raw:>11,.0f}{ratio:>8.4f}"
        )

    print()
    print(
        f"== the stock backends alone (a fresh pool of {args.units} per round, "
        f"{args.members:,} holders x {args.attempts} takes, shuffled) =="
    )
    header = (
        f"{'config':<16}{'measure':<36}{'rounds':>7}{'ops':>9}{'secs':>7}{'ops/s':>11}"
        f"{'wins':>7}{'sold_out':>9}{'limit':>7}{'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        for raw in r.raws:
            print(
                f"{r.config:<16}{raw.label:<36}{raw.rounds:>7}{raw.ops:>9}{raw.seconds:>7.2f}"
                f"{raw.ops_per_s:>11,.0f}{raw.wins:>7}{raw.sold_out:>9}{raw.limit:>7}"
                f"{sum(raw.errors.values()):>7}" + (f"   ({raw.note})" if raw.note else "")
            )

    for r in results:
        print()
        statuses = ", ".join(f"{k}: {n}" for k, n in sorted(r.statuses.items()))
        print(f"[{r.config}] statuses: {statuses}")
        if r.not_sent:
            budget = f"{RUSH_BUDGET_SECONDS:.0f}s"
            print(f"[{r.config}] NOT SENT after the {budget} budget: {r.not_sent}")
        if r.admin_view:
            print(f"[{r.config}] GET /v1/admin/flash-sales/{{id}}: {r.admin_view}")
        for ok, text in r.checks:
            print(f"[{r.config}] {'OK  ' if ok else 'FAIL'} {text}")
        for raw in r.raws:
            if raw.wins or raw.rounds:
                verdict = "FAIL" if raw.bad_rounds else "OK  "
                print(
                    f"[{r.config}] {verdict} raw {raw.label}: rounds not selling exactly "
                    f"{args.units}: {raw.bad_rounds}"
                )
            if raw.errors:
                print(f"[{r.config}] raw {raw.label} errors: {dict(raw.errors.most_common())}")
        print(f"[{r.config}] server error log lines: {len(r.error_log_lines)}")
        for line in r.error_log_lines[:5]:
            print(f"    {line[:500]}")
        if r.server_errors or not all(ok for ok, _ in r.checks):
            print(f"[{r.config}] server log tail:")
            for line in r.log_tail:
                print(f"    {line[:500]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated list")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--units", type=int, default=100, help="the flash sale's units")
    parser.add_argument("--attempts", type=int, default=3, help="attempts per member")
    parser.add_argument("--in-flight", type=int, default=200, help="requests in flight")
    args = parser.parse_args()
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown config(s): {', '.join(sorted(unknown))}; of {', '.join(CONFIGS)}")
    if min(args.members, args.units, args.attempts, args.in_flight) <= 0:
        parser.error("--members, --units, --attempts and --in-flight must be positive")
    if args.members < args.units:
        parser.error("--members must be at least --units (the sale sells out exactly)")
    if args.attempts > 100:
        parser.error("--attempts: at most 100")
    return args


async def main() -> None:
    args = parse_args()
    print(
        f"python {sys.version.split()[0]}   sqlite {sqlite3.sqlite_version}   "
        f"nproc {len(os.sched_getaffinity(0))}   load average {load_average()}   "
        f"configs {','.join(args.configs)}",
        flush=True,
    )
    if any(CONFIGS[c][1] == "postgres" for c in args.configs):
        print(f"postgresql {await pg_version()} at 127.0.0.1:5432", flush=True)
    redis_ok = False
    if any(CONFIGS[c][0] == "redis" for c in args.configs):
        version = await redis_version()
        redis_ok = version is not None
        print(f"redis {version or 'unreachable'} at {REDIS_URL}", flush=True)
    results: list[Rush] = []
    for config in args.configs:
        try:
            outcome = await bench_config(config, args, redis_ok)
        except (RuntimeError, httpx.HTTPError, OSError) as exc:
            outcome = f"FAILED: {type(exc).__name__}: {exc}"
        if isinstance(outcome, str):
            log(config, outcome)
        else:
            results.append(outcome)
    if results:
        print_report(results, args)
    print()
    print(f"load average at the end: {load_average()} (other processes share this machine)")


if __name__ == "__main__":
    asyncio.run(main())
