"""Analytics: ingestion through the HTTP batch endpoint, and the dashboard's questions on
10 million generated events, each next to hand-written DuckDB SQL and pandas on the same
data in the same run.

Part 1 (ingest). A fresh data dir, a merchant bootstrapped with the CLI and its own
`growthloop serve`. N events (anonymous devices, page_view/add_to_cart/order.paid) are
encoded beforehand into batches of B and sent by C concurrent clients to
`POST /v1/ingest/batch`; events/s = accepted events ÷ wall time of the whole send, and the
batch latencies are per request. Afterwards the store must hold exactly what was accepted
(counted through the API's trends and in the Parquet segments). The same rows (made by
`ingest.normalize_batch`, not timed, as the Arrow table the server writes) then go to
`DuckDBEventStore.append` in this process in batches of B, one after another: raw
events/s, the store's own limit with no HTTP, no group commit. The store is given the rows
both ways its `append` takes them: the Arrow table, and a list of `EventRow` objects (the
store converts them, as it did for every ingest request before ingestion became columnar;
the issue that set the 0.5 goal measured this one). A sample is also inserted
row by row into a DuckDB table (one autocommit INSERT per event): the cost of writing a
columnar store one event at a time.

Part 2 (queries). Events are generated with numpy (people weighted by a heavy-tailed
activity; sessions over --days days with a diurnal pattern and a slight growth; page views,
then add_to_cart, order.paid and refunds with funnel-like conversion, some payments more
than 24 h after the cart; 60% of people are members, half of them registering during the
period, their earlier events anonymous; platforms wechat/alipay/douyin/app). They are
written, sorted by time, straight into the merchant's folder with
`DuckDBEventStore.append` in chunks of 1,000,000 (one segment each), then `roll_up()`,
before the server starts. Three questions, each asked --runs times through the admin API:
- overview: the last 30 local days (totals and by day);
- funnel: page_view -> add_to_cart -> order.paid, 24 h window, the last 30 days;
- retention: 14 daily cohorts (the last 14 days), --retention-start / --retention-return.
The same answers are computed by hand-written DuckDB SQL over
`read_parquet('<merchant>/seg/*.parquet')` in a fresh connection, and by pandas (plus
numpy's searchsorted for the funnel's greedy step matching) on a DataFrame loaded once:
the load (read_parquet, person = member_id else distinct_id as integer codes, event as a
category) is reported apart and not counted in the per-query times. All three must give
the same numbers; a MISMATCH lists the first differing values.

Figures: p50 and min of the runs; "gl 1st" is growthloop's first, cold run. The runs are
interleaved (each run asks growthloop, DuckDB SQL and pandas in turn, starting with a
different one each time) so that a change in the machine's load hits all three alike. The
growthloop time is a full HTTP round trip (auth, session, JSON) to a server whose DuckDB
uses every core, as the fresh baseline connection does; pandas runs on one core. ratio =
growthloop ms ÷ baseline ms (1.0 = as fast as hand-written; lower is better). Ingestion's
ratio is HTTP events/s ÷ raw append events/s. Everything shares one machine: the load
average is printed at the start and the end.

This script prints figures; it never asserts timings.

    .venv/bin/python bench/analytics.py [--events 10000000] [--persons N] [--days 90]
        [--runs 5] [--ingest 200000] [--batch 500] [--clients 16] [--parts ingest,queries]
    quick: .venv/bin/python bench/analytics.py --events 300000 --ingest 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid as uuidlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    base_env,
    create_merchant,
    error_lines,
    expect,
    free_port,
    load_average,
    percentile,
    process_cpu_seconds,
    start_server,
    stop_server,
    wait_healthy,
)

from growthloop.analytics.backends.duckdb import DuckDBEventStore
from growthloop.analytics.ingest import RawEvent, normalize_batch
from growthloop.analytics.rows import ARROW_SCHEMA, COLUMNS, EventRow

TZ = "Asia/Shanghai"  # the merchant's default timezone
HTTP_TIMEOUT = 600.0
CHUNK_ROWS = 1_000_000  # one segment per append
ROW_INSERT_SECONDS = 5.0  # budget of the row-by-row INSERT sample
US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
NEVER = np.iinfo(np.int64).max
ALWAYS = np.iinfo(np.int64).min

EVENTS = (
    "page_view",
    "add_to_cart",
    "order.paid",
    "order.refunded",
    "member.registered",
    "member.login",
)
PV, CART, PAID, REFUND, REG, LOGIN = range(len(EVENTS))
PLATFORMS = ("wechat", "alipay", "douyin", "app")
PLATFORM_P = (0.5, 0.2, 0.15, 0.15)
CHANNELS = ("", "wechat_share", "douyin_ad", "search")  # "" = no channel (NULL)
CHANNEL_P = (0.6, 0.2, 0.1, 0.1)
PAGES = ("/pages/home", "/pages/category", "/pages/item", "/pages/cart", "/pages/me")
# Share of sessions starting in each local hour: quiet nights, lunch and evening peaks.
HOUR_WEIGHTS = (
    *(2, 1, 1, 1, 1, 1, 2, 4, 6, 6, 6, 7),
    *(9, 8, 6, 6, 6, 6, 7, 9, 11, 12, 10, 5),
)
PROPERTIES = ('{"$lib":"bench"}', '{"$lib":"bench","sku":"tea"}', '{"source":"order"}')

OVERVIEW_NAMES = (
    "active_members",
    "visitors",
    "new_members",
    "orders",
    "gmv",
    "paying_members",
    "refunds",
    "refund_amount",
)
OVERVIEW_TOTALS = (
    *OVERVIEW_NAMES,
    "conversion_rate",
    "aov",
    "repurchase_rate",
)
FUNNEL_STEPS = ("page_view", "add_to_cart", "order.paid")
FUNNEL_WINDOW_HOURS = 24
OVERVIEW_DAYS = 30
RETENTION_PERIODS = 14
WAYS = ("growthloop", "duckdb", "pandas")


def log(message: str) -> None:
    print(message, flush=True)


def local_midnight(day: date, tz: str = TZ) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def epoch_us(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def rate(part: int, whole: int) -> float:
    """As the product rounds its rates (queries._rate)."""
    return round(part / whole, 4) if whole else 0.0


@dataclass
class Timing:
    ms: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.ms) if self.ms else float("nan")

    @property
    def min(self) -> float:
        return min(self.ms) if self.ms else float("nan")

    @property
    def first(self) -> float:
        return self.ms[0] if self.ms else float("nan")


def timed(fn: Callable[[], Any], runs: int) -> tuple[Any, Timing]:
    timing = Timing()
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        timing.ms.append((time.perf_counter() - start) * 1000)
    return result, timing


# --- generated events ---------------------------------------------------------------------


@dataclass
class Events:
    """The generated events as columns, sorted by time."""

    person: np.ndarray  # int32: the device (distinct id d<person>), member m<person>
    event: np.ndarray  # int8 index into EVENTS
    time: np.ndarray  # int64 epoch microseconds, UTC
    member: np.ndarray  # bool: the person was a member at the time (member_id set)
    platform: np.ndarray  # int8 index into PLATFORMS
    channel: np.ndarray  # int8 index into CHANNELS
    page: np.ndarray  # int8 index into PAGES, -1 = none
    amount: np.ndarray  # int64 fen
    persons: int
    sessions: int
    first_day: date
    last_day: date

    def __len__(self) -> int:
        return len(self.time)


def _draw(seed: int, n_sessions: int, persons: int, days: int, first_day: date) -> Events:
    rng = np.random.default_rng(seed)
    weight = rng.lognormal(0.0, 1.2, persons)
    weight /= weight.sum()
    is_member = rng.random(persons) < 0.6
    existing = is_member & (rng.random(persons) < 0.5)  # registered before the period

    base = epoch_us(local_midnight(first_day))
    day_w = np.array(
        [
            (1 + 0.4 * d / days) * (1.25 if (first_day + timedelta(days=d)).weekday() >= 5 else 1)
            for d in range(days)
        ]
    )
    hour_w = np.array(HOUR_WEIGHTS, dtype=float)
    s_person = rng.choice(persons, n_sessions, p=weight)
    s_start = (
        base
        + rng.choice(days, n_sessions, p=day_w / day_w.sum()).astype(np.int64) * DAY_US
        + rng.choice(24, n_sessions, p=hour_w / hour_w.sum()).astype(np.int64) * HOUR_US
        + rng.integers(0, HOUR_US, n_sessions)
    )
    s_platform = rng.choice(len(PLATFORMS), n_sessions, p=PLATFORM_P).astype(np.int8)
    s_channel = rng.choice(len(CHANNELS), n_sessions, p=CHANNEL_P).astype(np.int8)

    # Registration: at the start of one of the person's sessions, chosen at random.
    reg_time = np.full(persons, NEVER, dtype=np.int64)
    reg_time[existing] = ALWAYS
    order = np.lexsort((s_start, s_person))
    uniq, first_idx, count = np.unique(s_person[order], return_index=True, return_counts=True)
    joins = (is_member & ~existing)[uniq]
    pick = first_idx[joins] + (rng.random(int(joins.sum())) * count[joins]).astype(np.int64)
    reg_time[uniq[joins]] = s_start[order[pick]]
    s_reg_time = reg_time[s_person]
    s_registers = s_start == s_reg_time
    s_member = s_start >= s_reg_time

    # Page views: a geometric number per session, spaced by exponential gaps.
    k = rng.geometric(0.2, n_sessions)
    pv_session = np.repeat(np.arange(n_sessions), k)
    gaps = rng.exponential(45 * US, len(pv_session)).astype(np.int64) + 1
    ends = np.cumsum(k)
    starts = ends - k
    cum = np.cumsum(gaps)
    pv_time = s_start[pv_session] + cum - np.repeat(cum[starts] - gaps[starts], k)
    last_pv = pv_time[ends - 1]

    has_cart = rng.random(n_sessions) < np.where(s_member, 0.25, 0.10)
    cart_time = last_pv + rng.exponential(60 * US, n_sessions).astype(np.int64) + 1
    has_paid = has_cart & (rng.random(n_sessions) < np.where(s_member, 0.45, 0.15))
    slow = rng.random(n_sessions) < 0.2  # paid much later: often outside a 24 h window
    delay = np.where(
        slow, rng.exponential(36 * HOUR_US, n_sessions), rng.exponential(10 * 60 * US, n_sessions)
    )
    paid_time = cart_time + delay.astype(np.int64) + 1
    amount = np.maximum(100, rng.lognormal(np.log(9000), 0.7, n_sessions)).astype(np.int64)
    has_refund = has_paid & (rng.random(n_sessions) < 0.05)
    refund_time = paid_time + rng.integers(DAY_US, 5 * DAY_US, n_sessions)
    has_login = s_member & ~s_registers & (rng.random(n_sessions) < 0.4)

    all_s = np.arange(n_sessions)
    parts = [
        (pv_session, PV, pv_time, None),
        (all_s[has_cart], CART, cart_time[has_cart], None),
        (all_s[has_paid], PAID, paid_time[has_paid], amount[has_paid]),
        (all_s[has_refund], REFUND, refund_time[has_refund], amount[has_refund]),
        (all_s[s_registers], REG, s_start[s_registers], None),
        (all_s[has_login], LOGIN, s_start[has_login], None),
    ]
    session = np.concatenate([p[0] for p in parts])
    event = np.concatenate([np.full(len(p[0]), p[1], dtype=np.int8) for p in parts])
    at = np.concatenate([p[2] for p in parts])
    amounts = np.concatenate(
        [p[3] if p[3] is not None else np.zeros(len(p[0]), np.int64) for p in parts]
    )
    page = np.full(len(session), -1, dtype=np.int8)
    page[: len(pv_session)] = rng.integers(0, len(PAGES), len(pv_session))
    person = s_person[session].astype(np.int32)
    return Events(
        person=person,
        event=event,
        time=at,
        member=at >= reg_time[person],
        platform=s_platform[session],
        channel=s_channel[session],
        page=page,
        amount=amounts,
        persons=persons,
        sessions=n_sessions,
        first_day=first_day,
        last_day=first_day + timedelta(days=days - 1),
    )


def _select(ev: Events, keep: np.ndarray) -> Events:
    return Events(
        person=ev.person[keep],
        event=ev.event[keep],
        time=ev.time[keep],
        member=ev.member[keep],
        platform=ev.platform[keep],
        channel=ev.channel[keep],
        page=ev.page[keep],
        amount=ev.amount[keep],
        persons=ev.persons,
        sessions=ev.sessions,
        first_day=ev.first_day,
        last_day=ev.last_day,
    )


def generate(n_events: int, persons: int, days: int, last_day: date, seed: int) -> Events:
    """Exactly n_events inside the period, sorted by time."""
    first_day = last_day - timedelta(days=days - 1)
    end = epoch_us(local_midnight(last_day + timedelta(days=1)))
    n_sessions = int(n_events / 5.3) + 10
    while True:
        ev = _draw(seed, n_sessions, persons, days, first_day)
        inside = ev.time < end
        if int(inside.sum()) >= n_events:
            break
        n_sessions = int(n_sessions * 1.15) + 10
    ev = _select(ev, inside)
    excess = len(ev) - n_events
    if excess:  # drop random page views down to the exact count
        rng = np.random.default_rng(seed + 1)
        pv = np.flatnonzero(ev.event == PV)
        keep = np.ones(len(ev), dtype=bool)
        keep[rng.choice(pv, excess, replace=False)] = False
        ev = _select(ev, keep)
    return _select(ev, np.argsort(ev.time, kind="stable"))


def _strings(codes: np.ndarray, values: list[str], null: np.ndarray | None = None) -> pa.Array:
    indices = pa.array(codes.astype(np.int32), mask=null)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, pa.string())).cast(pa.string())


def arrow_chunk(
    ev: Events, lo: int, hi: int, merchant_id: str, devices: list[str], members: list[str]
) -> pa.Table:
    n = hi - lo
    person = ev.person[lo:hi]
    event = ev.event[lo:hi]
    at = ev.time[lo:hi]
    channel = ev.channel[lo:hi]
    page = ev.page[lo:hi]
    ids = pc.cast(pa.array(np.arange(lo, hi, dtype=np.int64)), pa.string())
    prop_code = np.where(event == CART, 1, np.where((event == PAID) | (event == REFUND), 2, 0))
    columns = {
        "merchant_id": _strings(np.zeros(n, np.int32), [merchant_id]),
        "uuid": pc.binary_join_element_wise("gen-", ids, ""),
        "event": _strings(event, list(EVENTS)),
        "distinct_id": _strings(person, devices),
        "member_id": _strings(person, members, null=~ev.member[lo:hi]),
        "time": pa.array(at, type=pa.timestamp("us", tz="UTC")),
        "received_at": pa.array(at + 350_000, type=pa.timestamp("us", tz="UTC")),
        "platform": _strings(ev.platform[lo:hi], list(PLATFORMS)),
        "page": _strings(np.maximum(page, 0), list(PAGES), null=page < 0),
        "share_code": pa.nulls(n, pa.string()),
        "channel": _strings(channel, list(CHANNELS), null=channel == 0),
        "amount": pa.array(ev.amount[lo:hi]),
        "properties": _strings(prop_code, list(PROPERTIES)),
    }
    return pa.Table.from_pydict(columns, schema=ARROW_SCHEMA)


# --- part 1: ingestion --------------------------------------------------------------------


@dataclass
class Appends:
    """DuckDBEventStore.append called in this process, one batch after another."""

    seconds: float = 0.0
    rows: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


@dataclass
class Ingest:
    events: int
    batch: int
    clients: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    dropped: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    api_count: int | None = None
    parquet_count: int | None = None
    segments: int | None = None
    raw: Appends = field(default_factory=lambda: Appends())  # the server's Arrow tables
    raw_objects: Appends = field(default_factory=lambda: Appends())  # lists of EventRow
    row_insert_rows: int = 0
    row_insert_seconds: float = 0.0
    error_log_lines: list[str] = field(default_factory=list)
    server_cpu_seconds: float = 0.0  # the server's user + system CPU while the clients sent

    @property
    def events_per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds else float("nan")

    @property
    def raw_per_s(self) -> float:
        return self.raw.per_s

    @property
    def row_insert_per_s(self) -> float:
        if not self.row_insert_seconds:
            return float("nan")
        return self.row_insert_rows / self.row_insert_seconds


def ingest_events(n: int, seed: int) -> list[dict[str, Any]]:
    """What an SDK sends: anonymous devices browsing, some carts, some orders, last hour."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    devices = rng.integers(0, max(1, n // 10), n)
    kinds = rng.choice(3, n, p=(0.85, 0.11, 0.04))
    ago = rng.integers(0, 3600 * US, n)
    platforms = rng.choice(len(PLATFORMS), n, p=PLATFORM_P)
    pages = rng.integers(0, len(PAGES), n)
    amounts = rng.integers(500, 50_000, n)
    out = []
    for i in range(n):
        kind = int(kinds[i])
        props: dict[str, Any] = {"platform": PLATFORMS[platforms[i]], "$lib": "bench"}
        if kind == 0:
            props["page"] = PAGES[pages[i]]
        elif kind == 2:
            props["amount"] = int(amounts[i])
        out.append(
            {
                "event": FUNNEL_STEPS[kind],
                "distinct_id": f"dev-{devices[i]}",
                "time": (now - timedelta(microseconds=int(ago[i]))).isoformat(),
                "properties": props,
                "uuid": str(uuidlib.UUID(int=int(rng.integers(0, 2**63)) << 64 | i)),
            }
        )
    return out


def table_of(events: list[dict[str, Any]], merchant_id: str) -> pa.Table:
    """The rows the server makes of these events (`ingest.normalize_batch`), as the Arrow
    table it hands the store."""
    raws = [
        RawEvent(i, e["event"], e["distinct_id"], e["time"], e["properties"], e["uuid"])
        for i, e in enumerate(events)
    ]
    made, rejected, dropped = normalize_batch(raws, merchant_id, datetime.now(UTC), timedelta(0))
    if rejected or dropped:
        raise RuntimeError(f"the bench made bad events: {rejected[:3]}, {dropped} dropped")
    return made.to_arrow()


async def send_batches(base_url: str, key: str, bodies: list[bytes], result: Ingest) -> None:
    queue = list(reversed(bodies))
    headers = {
        "X-Ingest-Key": key,
        "Content-Type": "application/json",
        "User-Agent": "growthloop-bench/1",
    }
    limits = httpx.Limits(max_connections=result.clients, max_keepalive_connections=result.clients)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            start = time.perf_counter()
            try:
                resp = await client.post("/v1/ingest/batch", content=body, headers=headers)
            except httpx.HTTPError as exc:
                result.errors[type(exc).__name__] += 1
                continue
            result.latencies_ms.append((time.perf_counter() - start) * 1000)
            if not resp.is_success:
                result.errors[f"HTTP {resp.status_code}"] += 1
                continue
            out = resp.json()
            result.accepted += int(out["accepted"])
            result.rejected += len(out["rejected"])
            result.duplicates += int(out.get("duplicates", 0))
            result.dropped += int(out.get("dropped", 0))

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=HTTP_TIMEOUT) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(result.clients)))
        result.seconds = time.perf_counter() - start


async def api_event_count(base_url: str, token: str) -> int:
    """Events stored today and yesterday (local), per event name, through trends."""
    today = datetime.now(ZoneInfo(TZ)).date()
    total = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT) as client:
        for name in FUNNEL_STEPS:
            body = {
                "event": name,
                "math": "count",
                "interval": "day",
                "from": (today - timedelta(days=1)).isoformat(),
                "to": today.isoformat(),
            }
            resp = await client.post(
                "/v1/admin/analytics/trends",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            total += sum(s["total"] for s in expect(resp, "trends")["series"])
    return total


async def admin_token(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT) as client:
        resp = await client.post(
            "/v1/admin/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        return str(expect(resp, "admin login")["token"])


def parquet_count(seg_dir: Path) -> tuple[int, int]:
    files = sorted(seg_dir.glob("*.parquet"))
    if not files:
        return 0, 0
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT count(*) FROM read_parquet('{seg_dir}/*.parquet')").fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0, len(files)


async def raw_append(
    rows: pa.Table | list[EventRow], batch: int, root: Path, result: Appends
) -> None:
    store = DuckDBEventStore(root)
    try:
        start = time.perf_counter()
        for i in range(0, len(rows), batch):
            t0 = time.perf_counter()
            part = rows.slice(i, batch) if isinstance(rows, pa.Table) else rows[i : i + batch]
            result.rows += await store.append(part)
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
        result.seconds = time.perf_counter() - start
    finally:
        await store.close()


def row_by_row(rows: pa.Table, path: Path, result: Ingest) -> None:
    """One autocommit INSERT per event into a DuckDB database file, for a few seconds."""
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        cols = ", ".join(f"{n} {t}" for n, t, _ in COLUMNS)
        con.execute(f"CREATE TABLE events ({cols})")
        sql = f"INSERT INTO events VALUES ({', '.join('?' for _ in COLUMNS)})"
        start = time.perf_counter()
        for row in rows.to_pylist():
            con.execute(sql, list(row.values()))
            result.row_insert_rows += 1
            if time.perf_counter() - start > ROW_INSERT_SECONDS:
                break
        result.row_insert_seconds = time.perf_counter() - start
    finally:
        con.close()


async def part_ingest(args: argparse.Namespace, tmp: Path) -> Ingest:
    result = Ingest(events=args.ingest, batch=args.batch, clients=args.clients)
    data_dir = tmp / "ingest"
    data_dir.mkdir()
    env = base_env(data_dir, None)
    merchant = await asyncio.to_thread(create_merchant, env)
    log(f"[ingest] encoding {args.ingest:,} events in batches of {args.batch}...")
    events = ingest_events(args.ingest, args.seed)
    bodies = [
        json.dumps({"events": events[i : i + args.batch]}, separators=(",", ":")).encode()
        for i in range(0, len(events), args.batch)
    ]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp / "ingest-server.log"
    proc = start_server(port, env | {"GROWTHLOOP_LOG_LEVEL": "WARNING"}, log_path)
    try:
        await wait_healthy(base_url, proc, within_s=60)
        log(f"[ingest] sending with {args.clients} clients...")
        cpu_before = process_cpu_seconds(proc.pid)
        await send_batches(base_url, merchant["ingest_key"], bodies, result)
        result.server_cpu_seconds = process_cpu_seconds(proc.pid) - cpu_before
        token = await admin_token(base_url)
        result.api_count = await api_event_count(base_url, token)
    finally:
        stop_server(proc)
    result.error_log_lines = error_lines(log_path)
    seg_dir = data_dir / "events" / merchant["merchant_id"] / "seg"
    result.parquet_count, result.segments = await asyncio.to_thread(parquet_count, seg_dir)

    log(f"[ingest] raw DuckDBEventStore.append in batches of {args.batch}...")
    rows = table_of(events, merchant["merchant_id"])
    await raw_append(rows, args.batch, tmp / "raw-events", result.raw)
    objects = [EventRow(**row) for row in rows.to_pylist()]
    await raw_append(objects, args.batch, tmp / "raw-objects", result.raw_objects)
    log(f"[ingest] row-by-row INSERT sample ({ROW_INSERT_SECONDS:.0f}s)...")
    await asyncio.to_thread(row_by_row, rows, tmp / "rows.duckdb", result)
    return result


# --- part 2: the questions, through the API -------------------------------------------------


@dataclass
class Question:
    name: str
    api: dict[str, Any] | None = None
    duckdb: dict[str, Any] | None = None
    pandas: dict[str, Any] | None = None
    api_t: Timing = field(default_factory=Timing)
    duckdb_t: Timing = field(default_factory=Timing)
    pandas_t: Timing = field(default_factory=Timing)


@dataclass
class Ranges:
    overview: tuple[date, date]
    funnel: tuple[date, date]
    retention: tuple[date, date]

    @classmethod
    def of(cls, last: date) -> Ranges:
        return cls(
            overview=(last - timedelta(days=OVERVIEW_DAYS - 1), last),
            funnel=(last - timedelta(days=OVERVIEW_DAYS - 1), last),
            retention=(last - timedelta(days=RETENTION_PERIODS - 1), last),
        )


def days_of(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def shape_overview(
    first: date,
    last: date,
    by_day: dict[date, dict[str, int]],
    totals: dict[str, int],
    repeat_buyers: int,
) -> dict[str, Any]:
    days = []
    for day in days_of(first, last):
        values = by_day.get(day) or dict.fromkeys(OVERVIEW_NAMES, 0)
        days.append(
            {
                "date": day.isoformat(),
                **values,
                "conversion_rate": rate(values["paying_members"], values["active_members"]),
            }
        )
    t = dict(totals)
    t["conversion_rate"] = rate(t["paying_members"], t["active_members"])
    t["aov"] = t["gmv"] // t["orders"] if t["orders"] else 0
    t["repurchase_rate"] = rate(repeat_buyers, t["paying_members"])
    return {"totals": t, "by_day": days}


def normal_api(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The API's answer, reduced to what the baselines compute."""
    if name == "overview":
        keys = ("date", *OVERVIEW_NAMES, "conversion_rate")
        return {
            "totals": {k: body[k] for k in OVERVIEW_TOTALS},
            "by_day": [{k: d[k] for k in keys} for d in body["by_day"]],
        }
    if name == "funnel":
        return {"steps": [s["count"] for s in body["steps"]]}
    return {
        "cohorts": [
            {"start": c["start"], "size": c["size"], "returned": c["returned"]}
            for c in body["cohorts"]
        ]
    }


def api_requests(
    args: argparse.Namespace, ranges: Ranges
) -> dict[str, tuple[str, str, dict[str, Any] | None]]:
    """name -> (method, url, JSON body) of the three questions."""
    o_from, o_to = ranges.overview
    f_from, f_to = ranges.funnel
    r_from, r_to = ranges.retention
    return {
        "overview": (
            "GET",
            f"/v1/admin/analytics/overview?from={o_from.isoformat()}&to={o_to.isoformat()}",
            None,
        ),
        "funnel": (
            "POST",
            "/v1/admin/analytics/funnel",
            {
                "steps": [{"event": e} for e in FUNNEL_STEPS],
                "window_hours": FUNNEL_WINDOW_HOURS,
                "from": f_from.isoformat(),
                "to": f_to.isoformat(),
            },
        ),
        "retention": (
            "POST",
            "/v1/admin/analytics/retention",
            {
                "start_event": args.retention_start,
                "return_event": args.retention_return,
                "period": "day",
                "periods": RETENTION_PERIODS,
                "from": r_from.isoformat(),
                "to": r_to.isoformat(),
            },
        ),
    }


# --- baseline: hand-written DuckDB SQL ------------------------------------------------------


def ts(at: datetime) -> str:
    return f"TIMESTAMPTZ '{at.isoformat()}'"


def duckdb_overview(con: duckdb.DuckDBPyConnection, src: str, first: date, last: date) -> Any:
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    rows = con.execute(
        f"""
        WITH e AS (
            SELECT CAST(timezone('{TZ}', time) AS DATE) AS day,
                   coalesce(member_id, distinct_id) AS person,
                   member_id IS NOT NULL AS is_member, event, amount
            FROM {src} WHERE time >= {ts(start)} AND time < {ts(end)})
        SELECT day,
            count(DISTINCT person) FILTER (WHERE is_member) AS active_members,
            count(DISTINCT person) AS visitors,
            count(DISTINCT person) FILTER (WHERE is_member AND event = 'member.registered'),
            count(*) FILTER (WHERE event = 'order.paid') AS orders,
            coalesce(sum(amount) FILTER (WHERE event = 'order.paid'), 0) AS gmv,
            count(DISTINCT person) FILTER (WHERE is_member AND event = 'order.paid'),
            count(*) FILTER (WHERE event = 'order.refunded') AS refunds,
            coalesce(sum(amount) FILTER (WHERE event = 'order.refunded'), 0),
            (SELECT count(*) FROM (SELECT person FROM e WHERE event = 'order.paid'
                                   AND is_member GROUP BY person HAVING count(*) >= 2))
                AS repeat_buyers
        FROM e GROUP BY ROLLUP (day)
        """
    ).fetchall()
    by_day: dict[date, dict[str, int]] = {}
    totals: dict[str, int] = dict.fromkeys(OVERVIEW_NAMES, 0)
    repeat = 0
    for row in rows:
        values = dict(zip(OVERVIEW_NAMES, (int(v or 0) for v in row[1:9]), strict=True))
        if row[0] is None:
            totals, repeat = values, int(row[9])
        else:
            by_day[row[0]] = values
    return shape_overview(first, last, by_day, totals, repeat)


def duckdb_funnel(con: duckdb.DuckDBPyConnection, src: str, first: date, last: date) -> Any:
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    window = timedelta(hours=FUNNEL_WINDOW_HOURS)
    a, b, c = FUNNEL_STEPS
    row = con.execute(
        f"""
        WITH s AS (
            SELECT coalesce(member_id, distinct_id) AS person, event, time FROM {src}
            WHERE time >= {ts(start)} AND time < {ts(end + window)}
              AND event IN ('{a}', '{b}', '{c}')),
        s1 AS (SELECT person, time AS t1 FROM s WHERE event = '{a}' AND time < {ts(end)}),
        s2 AS (SELECT person, time FROM s WHERE event = '{b}'),
        s3 AS (SELECT person, time FROM s WHERE event = '{c}'),
        j2 AS (SELECT s1.*, s2.time AS t2 FROM s1 ASOF LEFT JOIN s2
               ON s1.person = s2.person AND s2.time > s1.t1),
        j3 AS (SELECT j2.*, s3.time AS t3 FROM j2 ASOF LEFT JOIN s3
               ON j2.person = s3.person AND s3.time > j2.t2),
        p AS (SELECT person, max(1
                + CASE WHEN t2 <= t1 + INTERVAL {FUNNEL_WINDOW_HOURS} HOUR THEN 1 ELSE 0 END
                + CASE WHEN t3 <= t1 + INTERVAL {FUNNEL_WINDOW_HOURS} HOUR THEN 1 ELSE 0 END)
              AS level FROM j3 GROUP BY person)
        SELECT count(*), count(*) FILTER (WHERE level >= 2), count(*) FILTER (WHERE level >= 3)
        FROM p
        """
    ).fetchone()
    assert row is not None
    return {"steps": [int(v) for v in row]}


def duckdb_retention(
    con: duckdb.DuckDBPyConnection, src: str, first: date, last: date, start_ev: str, ret_ev: str
) -> Any:
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    horizon = local_midnight(last + timedelta(days=RETENTION_PERIODS + 1))
    rows = con.execute(
        f"""
        WITH c AS (
            SELECT person, t0, CAST(timezone('{TZ}', t0) AS DATE) AS cohort FROM (
                SELECT coalesce(member_id, distinct_id) AS person, min(time) AS t0 FROM {src}
                WHERE event = '{start_ev}' AND time >= {ts(start)} AND time < {ts(end)}
                GROUP BY ALL)),
        r AS (
            SELECT coalesce(member_id, distinct_id) AS person,
                   CAST(timezone('{TZ}', time) AS DATE) AS day, max(time) AS last_t
            FROM {src}
            WHERE event = '{ret_ev}' AND time >= {ts(start)} AND time < {ts(horizon)}
            GROUP BY ALL)
        SELECT cohort, -1 AS gap, count(*) FROM c GROUP BY cohort
        UNION ALL
        SELECT c.cohort, date_diff('day', c.cohort, r.day) AS gap, count(*)
        FROM c JOIN r USING (person)
        WHERE r.last_t >= c.t0 AND r.day < c.cohort + {RETENTION_PERIODS}
        GROUP BY ALL
        """
    ).fetchall()
    return shape_retention(first, last, [(d, int(g), int(n)) for d, g, n in rows])


def shape_retention(first: date, last: date, rows: list[tuple[date, int, int]]) -> dict[str, Any]:
    sizes: dict[date, int] = {}
    returned: dict[date, list[int]] = {}
    for cohort, gap, count in rows:
        if gap < 0:
            sizes[cohort] = count
        else:
            returned.setdefault(cohort, [0] * RETENTION_PERIODS)[gap] += count
    return {
        "cohorts": [
            {
                "start": d.isoformat(),
                "size": sizes.get(d, 0),
                "returned": returned.get(d, [0] * RETENTION_PERIODS),
            }
            for d in days_of(first, last)
        ]
    }


def duckdb_calls(
    con: duckdb.DuckDBPyConnection, seg_dir: Path, args: argparse.Namespace
) -> dict[str, Callable[[], Any]]:
    src = f"read_parquet('{seg_dir}/*.parquet')"
    ranges = Ranges.of(args.last_day)
    return {
        "overview": lambda: duckdb_overview(con, src, *ranges.overview),
        "funnel": lambda: duckdb_funnel(con, src, *ranges.funnel),
        "retention": lambda: duckdb_retention(
            con, src, *ranges.retention, args.retention_start, args.retention_return
        ),
    }


# --- baseline: pandas -----------------------------------------------------------------------


def pandas_load(seg_dir: Path) -> pd.DataFrame:
    df = pd.read_parquet(
        seg_dir, columns=["event", "distinct_id", "member_id", "time", "amount"], engine="pyarrow"
    )
    person = df["member_id"].fillna(df["distinct_id"])
    codes, _ = pd.factorize(person)
    return pd.DataFrame(
        {
            "event": df["event"].astype("category"),
            "person": codes.astype(np.int64),
            "is_member": df["member_id"].notna().to_numpy(),
            "time": df["time"],
            "amount": df["amount"],
        }
    )


def local_day(times: pd.Series) -> pd.Series:
    return times.dt.tz_convert(TZ).dt.tz_localize(None).dt.floor("D")


def pandas_overview(df: pd.DataFrame, first: date, last: date) -> Any:
    start, end = (
        pd.Timestamp(local_midnight(first)),
        pd.Timestamp(local_midnight(last + timedelta(days=1))),
    )
    e = df[(df["time"] >= start) & (df["time"] < end)]
    day = local_day(e["time"])
    paid = e["event"] == "order.paid"
    refund = e["event"] == "order.refunded"
    reg = e["event"] == "member.registered"
    member = e["is_member"]

    def people(mask: pd.Series | None) -> tuple[pd.Series, int]:
        sub = e if mask is None else e[mask]
        return sub.groupby(day[sub.index])["person"].nunique(), int(sub["person"].nunique())

    series: dict[str, pd.Series] = {}
    totals: dict[str, int] = {}
    for name, mask in (
        ("active_members", member),
        ("visitors", None),
        ("new_members", member & reg),
        ("paying_members", member & paid),
    ):
        series[name], totals[name] = people(mask)
    for name, mask, col in (
        ("orders", paid, None),
        ("gmv", paid, "amount"),
        ("refunds", refund, None),
        ("refund_amount", refund, "amount"),
    ):
        values = e["amount"].where(mask, 0) if col else mask.astype(np.int64)
        series[name] = values.groupby(day).sum()
        totals[name] = int(values.sum())
    repeat = int((e.loc[paid & member, "person"].value_counts() >= 2).sum())
    by_day: dict[date, dict[str, int]] = {}
    for name, s in series.items():
        for ts_, v in s.items():
            by_day.setdefault(ts_.date(), dict.fromkeys(OVERVIEW_NAMES, 0))[name] = int(v)
    return shape_overview(first, last, by_day, totals, repeat)


def next_after(
    q_person: np.ndarray, q_time: np.ndarray, e_person: np.ndarray, e_time: np.ndarray, big: int
) -> np.ndarray:
    """For each query (person, time): the earliest event time of that person strictly later,
    or -1. Times are non-negative and below `big`."""
    out = np.full(len(q_person), -1, dtype=np.int64)
    if not len(e_person):
        return out
    order = np.lexsort((e_time, e_person))
    e_key = e_person[order] * big + e_time[order]
    idx = np.searchsorted(e_key, q_person * big + q_time, side="right")
    ok = idx < len(e_key)
    ok[ok] = e_person[order][idx[ok]] == q_person[ok]
    out[ok] = e_time[order][idx[ok]]
    return out


def pandas_funnel(df: pd.DataFrame, first: date, last: date) -> Any:
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    window = timedelta(hours=FUNNEL_WINDOW_HOURS)
    lo, hi, stop = pd.Timestamp(start), pd.Timestamp(end + window), pd.Timestamp(end)
    s = df[(df["time"] >= lo) & (df["time"] < hi) & df["event"].isin(FUNNEL_STEPS)]
    t_us = (s["time"] - lo).to_numpy().astype("timedelta64[us]").astype(np.int64)
    person = s["person"].to_numpy()
    big = (hi - lo) // pd.Timedelta(microseconds=1) + 1
    if len(person) and (int(person.max()) + 1) * big >= 2**62:
        raise OverflowError("too many people for one int64 key of (person, time)")
    steps = [(s["event"] == e).to_numpy() for e in FUNNEL_STEPS]
    first_mask = steps[0] & (s["time"] < stop).to_numpy()
    p1, t1 = person[first_mask], t_us[first_mask]
    t2 = next_after(p1, t1, person[steps[1]], t_us[steps[1]], big)
    has2 = t2 >= 0
    t3 = np.full(len(p1), -1, dtype=np.int64)
    t3[has2] = next_after(p1[has2], t2[has2], person[steps[2]], t_us[steps[2]], big)
    w = window // timedelta(microseconds=1)
    level = 1 + (has2 & (t2 <= t1 + w)).astype(np.int8) + ((t3 >= 0) & (t3 <= t1 + w))
    best = pd.Series(level).groupby(p1).max()
    return {"steps": [int((best >= k).sum()) for k in (1, 2, 3)]}


def pandas_retention(df: pd.DataFrame, first: date, last: date, start_ev: str, ret_ev: str) -> Any:
    start = pd.Timestamp(local_midnight(first))
    end = pd.Timestamp(local_midnight(last + timedelta(days=1)))
    horizon = pd.Timestamp(local_midnight(last + timedelta(days=RETENTION_PERIODS + 1)))
    st = df[(df["event"] == start_ev) & (df["time"] >= start) & (df["time"] < end)]
    c = st.groupby("person")["time"].min().rename("t0").reset_index()
    c["cohort"] = local_day(c["t0"])
    r = df[(df["event"] == ret_ev) & (df["time"] >= start) & (df["time"] < horizon)]
    r = (
        r.assign(day=local_day(r["time"]))
        .groupby(["person", "day"])["time"]
        .max()
        .rename("last_t")
        .reset_index()
    )
    j = r.merge(c, on="person")
    gap = (j["day"] - j["cohort"]) // pd.Timedelta(days=1)
    j = j[(j["last_t"] >= j["t0"]) & (gap < RETENTION_PERIODS)]
    counts = j.groupby([j["cohort"], gap[j.index]]).size()
    rows = [(d.date(), -1, int(n)) for d, n in c.groupby("cohort").size().items()]
    rows += [(d.date(), int(g), int(n)) for (d, g), n in counts.items()]
    return shape_retention(first, last, rows)


def pandas_calls(df: pd.DataFrame, args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    ranges = Ranges.of(args.last_day)
    return {
        "overview": lambda: pandas_overview(df, *ranges.overview),
        "funnel": lambda: pandas_funnel(df, *ranges.funnel),
        "retention": lambda: pandas_retention(
            df, *ranges.retention, args.retention_start, args.retention_return
        ),
    }


# --- part 2 driver --------------------------------------------------------------------------


@dataclass
class Queries:
    events: int
    questions: list[Question] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    persons: int = 0
    people: int = 0  # distinct person (member else device)
    sessions: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # name -> seconds
    segments: int = 0
    rollup_rows: int = 0
    pandas_load_s: float = 0.0
    error_log_lines: list[str] = field(default_factory=list)


async def write_store(ev: Events, root: Path, merchant_id: str, q: Queries) -> None:
    devices = [f"d{p:07d}" for p in range(ev.persons)]
    members = [f"m{p:07d}" for p in range(ev.persons)]
    store = DuckDBEventStore(root)
    try:
        start = time.perf_counter()
        for lo in range(0, len(ev), CHUNK_ROWS):
            table = arrow_chunk(
                ev, lo, min(len(ev), lo + CHUNK_ROWS), merchant_id, devices, members
            )
            await store.append(table)
            q.segments += 1
        q.phases["store.append"] = time.perf_counter() - start
        start = time.perf_counter()
        await store.roll_up()
        q.phases["store.roll_up"] = time.perf_counter() - start
    finally:
        await store.close()


async def part_queries(args: argparse.Namespace, tmp: Path) -> Queries:
    q = Queries(events=args.events)
    data_dir = tmp / "queries"
    data_dir.mkdir()
    env = base_env(data_dir, None)
    merchant = await asyncio.to_thread(create_merchant, env)
    merchant_id = merchant["merchant_id"]

    log(f"[queries] generating {args.events:,} events over {args.days} days...")
    start = time.perf_counter()
    ev = generate(args.events, args.persons, args.days, args.last_day, args.seed)
    q.phases["generate"] = time.perf_counter() - start
    q.counts = Counter({EVENTS[i]: int(n) for i, n in enumerate(np.bincount(ev.event))})
    q.persons, q.sessions = ev.persons, ev.sessions
    q.people = len(np.unique(ev.person.astype(np.int64) * 2 + ev.member))
    log(f"[queries] writing {q.events:,} events in segments of {CHUNK_ROWS:,}...")
    await write_store(ev, data_dir / "events", merchant_id, q)
    del ev
    mdir = data_dir / "events" / merchant_id
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT count(*) FROM read_parquet('{mdir}/roll/*.parquet')").fetchone()
        q.rollup_rows = int(row[0]) if row else 0
    finally:
        con.close()

    seg_dir = mdir / "seg"
    log("[queries] pandas: loading the events...")
    start = time.perf_counter()
    df = await asyncio.to_thread(pandas_load, seg_dir)
    q.pandas_load_s = time.perf_counter() - start
    con = duckdb.connect()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp / "queries-server.log"
    proc = start_server(port, env | {"GROWTHLOOP_LOG_LEVEL": "WARNING"}, log_path)
    try:
        await wait_healthy(base_url, proc, within_s=60)
        token = await admin_token(base_url)
        log(f"[queries] {args.runs} runs of each question, the three ways in turn...")
        q.questions = await ask_all(
            base_url, token, args, duckdb_calls(con, seg_dir, args), pandas_calls(df, args)
        )
    finally:
        stop_server(proc)
        con.close()
    q.error_log_lines = error_lines(log_path)
    return q


async def ask_all(
    base_url: str,
    token: str,
    args: argparse.Namespace,
    duck: dict[str, Callable[[], Any]],
    pandas: dict[str, Callable[[], Any]],
) -> list[Question]:
    """Each run asks growthloop, DuckDB SQL and pandas one after the other (starting with a
    different one each run), so that the machine's load changes hit the three alike."""
    auth = {"Authorization": f"Bearer {token}"}
    out = []
    async with httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT) as client:
        for name, (method, url, body) in api_requests(args, Ranges.of(args.last_day)).items():
            q = Question(name)
            for run in range(args.runs):
                for way in [*WAYS[run % 3 :], *WAYS[: run % 3]]:
                    start = time.perf_counter()
                    if way == "growthloop":
                        resp = await client.request(method, url, json=body, headers=auth)
                        q.api = normal_api(name, expect(resp, name))
                        q.api_t.ms.append((time.perf_counter() - start) * 1000)
                    elif way == "duckdb":
                        q.duckdb = duck[name]()
                        q.duckdb_t.ms.append((time.perf_counter() - start) * 1000)
                    else:
                        q.pandas = pandas[name]()
                        q.pandas_t.ms.append((time.perf_counter() - start) * 1000)
            log(
                f"[queries] {name}: growthloop p50 {q.api_t.p50:.0f} ms, duckdb-sql "
                f"{q.duckdb_t.p50:.0f} ms, pandas {q.pandas_t.p50:.0f} ms"
            )
            out.append(q)
    return out


# --- report ---------------------------------------------------------------------------------


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += differences(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: growthloop={a!r} baseline={b!r}"]


def print_ingest(r: Ingest) -> list[tuple[bool, str]]:
    print()
    print(
        f"== ingestion: {r.events:,} events, batches of {r.batch}, {r.clients} clients "
        "(one HTTP server process) =="
    )
    header = (
        f"{'path':<34}{'events':>10}{'secs':>8}{'events/s':>11}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    print(header)
    print("-" * len(header))
    lat = sorted(r.latencies_ms)
    print(
        f"{'HTTP POST /v1/ingest/batch':<34}{r.accepted:>10,}{r.seconds:>8.2f}"
        f"{r.events_per_s:>11,.0f}{percentile(lat, 50):>9.1f}{percentile(lat, 95):>9.1f}"
        f"{percentile(lat, 99):>9.1f}{sum(r.errors.values()):>8}"
    )
    for label, appends in (
        ("raw store.append, Arrow table", r.raw),
        ("raw store.append, EventRow list", r.raw_objects),
    ):
        raw = sorted(appends.latencies_ms)
        print(
            f"{label:<34}{appends.rows:>10,}{appends.seconds:>8.2f}"
            f"{appends.per_s:>11,.0f}{percentile(raw, 50):>9.1f}{percentile(raw, 95):>9.1f}"
            f"{percentile(raw, 99):>9.1f}{0:>8}"
        )
    print(
        f"{'row-by-row DuckDB INSERT (sample)':<34}{r.row_insert_rows:>10,}"
        f"{r.row_insert_seconds:>8.2f}{r.row_insert_per_s:>11,.0f}"
        f"{'':>9}{'':>9}{'':>9}{0:>8}"
    )
    print(f"ratio HTTP ÷ raw append (Arrow):    {r.events_per_s / r.raw_per_s:.3f}")
    print(f"ratio HTTP ÷ raw append (EventRow): {r.events_per_s / r.raw_objects.per_s:.3f}")
    if r.accepted:
        print(
            f"server CPU per event over HTTP:     {r.server_cpu_seconds * 1e6 / r.accepted:.1f} µs"
            f" (raw append: {1e6 / r.raw_per_s:.1f} µs of wall time per event)"
        )
    print(f"ratio raw append ÷ row-by-row:      {r.raw_per_s / r.row_insert_per_s:,.0f}x")
    print(f"ratio HTTP ÷ row-by-row:            {r.events_per_s / r.row_insert_per_s:,.0f}x")
    print(
        f"responses: accepted {r.accepted:,}, rejected {r.rejected}, duplicates "
        f"{r.duplicates}, dropped {r.dropped}; segments on disk after the run: {r.segments}"
    )
    if r.errors:
        print(f"errors: {dict(r.errors.most_common())}")
    stored = r.accepted - r.duplicates - r.dropped
    checks = [
        (not r.errors and r.accepted == r.events, f"every event accepted ({r.accepted:,})"),
        (r.parquet_count == stored, f"Parquet segments hold {r.parquet_count:,} = {stored:,}"),
        (r.api_count == stored, f"the API (trends) counts {r.api_count:,} = {stored:,}"),
        (not r.error_log_lines, f"server error log lines: {len(r.error_log_lines)}"),
    ]
    for line in r.error_log_lines[:5]:
        print(f"    {line[:500]}")
    return checks


def print_queries(q: Queries, args: argparse.Namespace) -> list[tuple[bool, str]]:
    ranges = Ranges.of(args.last_day)
    print()
    print(
        f"== queries on {q.events:,} events: {args.last_day - timedelta(days=args.days - 1)} .. "
        f"{args.last_day} ({TZ}), {q.persons:,} persons, {q.people:,} people "
        f"(member else device), {q.sessions:,} sessions =="
    )
    print("events: " + ", ".join(f"{k} {n:,}" for k, n in q.counts.most_common()))
    print(
        f"store: {q.segments} segments, {q.rollup_rows:,} hourly rows after roll_up; "
        + ", ".join(f"{k} {s:.1f}s" for k, s in q.phases.items())
        + f"; pandas load (not in the query times) {q.pandas_load_s:.1f}s"
    )
    print(
        f"overview {ranges.overview[0]}..{ranges.overview[1]}; funnel "
        f"{' -> '.join(FUNNEL_STEPS)} ({FUNNEL_WINDOW_HOURS} h) {ranges.funnel[0]}.."
        f"{ranges.funnel[1]}; retention {args.retention_start} -> {args.retention_return}, "
        f"{RETENTION_PERIODS} days, cohorts {ranges.retention[0]}..{ranges.retention[1]}"
    )
    header = (
        f"{'query':<11}{'gl p50':>9}{'gl min':>9}{'gl 1st':>9}{'duck p50':>10}{'duck min':>10}"
        f"{'pd p50':>9}{'pd min':>9}{'gl/duck':>9}{'gl/pd':>8}"
    )
    print(f"ms, {args.runs} runs each; gl = growthloop over HTTP, duck = hand-written DuckDB SQL")
    print(header)
    print("-" * len(header))
    for x in q.questions:
        print(
            f"{x.name:<11}{x.api_t.p50:>9.0f}{x.api_t.min:>9.0f}{x.api_t.first:>9.0f}"
            f"{x.duckdb_t.p50:>10.0f}{x.duckdb_t.min:>10.0f}{x.pandas_t.p50:>9.0f}"
            f"{x.pandas_t.min:>9.0f}{x.api_t.p50 / x.duckdb_t.p50:>9.2f}"
            f"{x.api_t.p50 / x.pandas_t.p50:>8.2f}"
        )
    checks: list[tuple[bool, str]] = []
    for x in q.questions:
        summary = ""
        if x.name == "funnel" and x.api:
            summary = f" steps {x.api['steps']}"
        elif x.name == "overview" and x.api:
            t = x.api["totals"]
            summary = (
                f" visitors {t['visitors']:,}, active {t['active_members']:,}, orders "
                f"{t['orders']:,}, gmv {t['gmv']:,}"
            )
        elif x.name == "retention" and x.api:
            c = x.api["cohorts"][0]
            summary = f" first cohort {c['start']} size {c['size']:,} returned {c['returned']}"
        for label, other in (("duckdb-sql", x.duckdb), ("pandas", x.pandas)):
            diffs = differences(x.api, other)
            checks.append(
                (not diffs, f"{x.name} growthloop = {label}{summary if not diffs else ''}")
            )
            for d in diffs[:8]:
                print(f"    MISMATCH {x.name} vs {label}: {d}")
            if len(diffs) > 8:
                print(f"    ... {len(diffs) - 8} more differences")
    checks.append((not q.error_log_lines, f"server error log lines: {len(q.error_log_lines)}"))
    for line in q.error_log_lines[:5]:
        print(f"    {line[:500]}")
    return checks


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000_000, help="generated events")
    parser.add_argument("--persons", type=int, default=None, help="default: events ÷ 33")
    parser.add_argument("--days", type=int, default=90, help="days of generated events")
    parser.add_argument(
        "--last-day", type=date.fromisoformat, default=date(2025, 6, 30), help="local day"
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each query")
    parser.add_argument("--retention-start", default="page_view")
    parser.add_argument("--retention-return", default="page_view")
    parser.add_argument("--ingest", type=int, default=200_000, help="events sent over HTTP")
    parser.add_argument("--batch", type=int, default=500, help="events per request")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--parts", default="ingest,queries", help="comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if set(args.parts) - {"ingest", "queries"}:
        parser.error("--parts: ingest, queries")
    if args.persons is None:
        args.persons = max(100, args.events // 33)
    if min(args.events, args.persons, args.days, args.runs, args.ingest, args.batch) <= 0:
        parser.error("counts must be positive")
    if args.days < OVERVIEW_DAYS or args.batch > 10_000 or args.clients <= 0:
        parser.error(f"--days >= {OVERVIEW_DAYS}, --batch <= 10000, --clients > 0")
    return args


async def main() -> None:
    args = parse_args()
    log(
        f"load average at the start: {load_average()}   nproc: {len(os.sched_getaffinity(0))}   "
        f"python {sys.version.split()[0]}, duckdb {duckdb.__version__}, pandas "
        f"{pd.__version__}, pyarrow {pa.__version__}, numpy {np.__version__}"
    )
    checks: list[tuple[bool, str]] = []
    with tempfile.TemporaryDirectory(prefix="growthloop-bench-analytics-") as tmp_name:
        tmp = Path(tmp_name)
        ingest = await part_ingest(args, tmp) if "ingest" in args.parts else None
        queries = await part_queries(args, tmp) if "queries" in args.parts else None
    if ingest:
        checks += print_ingest(ingest)
    if queries:
        checks += print_queries(queries, args)
    print()
    for ok, text in checks:
        print(f"{'OK  ' if ok else 'FAIL'} {text}")
    print()
    print(f"load average at the end: {load_average()} (other processes share this machine)")


if __name__ == "__main__":
    asyncio.run(main())
