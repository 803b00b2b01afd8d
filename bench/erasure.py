"""Account deletion (注销): the time to erase one member from a shop whose event store holds
a million events, its database part and its event-store part apart, next to what it costs
to rewrite every file of the merchant's event store once.

For each configuration (SQLite in the data dir; PostgreSQL at --pg-url, in a database the
script creates and drops), a fresh data dir and runtime (`wiring.build_runtime`, migrated):
a merchant (`identity.service.create_merchant`) and --members members bulk-inserted as
`growthloop demo` does: the member row, a platform account (openid), a consent record and
state, --audit audit entries (one in five with a free-text detail) and --orders orders each,
and `analytics_identities` rows for the member id, the openid and, for 30% of them, a
device identified at sign-up (its link also written to the event store). --events events
are generated with numpy: 90% by members (weighted by a heavy-tailed activity; under the
member id, the openid, or the linked device before it was identified), 10% by anonymous
visitors; page_view, add_to_cart, order.paid (with an amount), member.login and
share.opened (which names a member as the sharer in its properties). They are spread
uniformly over --days days, sorted by time and written with `store.append` in --segments
segments; `roll_up()` runs after the first --rolled of them, so an erasure finds the person
in both the hourly roll-ups and the tail.

The --repeat members erased are members with a linked device whose event count is nearest
--target-events; each also earns points (`ledger.earn`) and gets a coupon
(`promotions.grant_coupon`) through the services. For each of them, `request_deletion` in a
unit of work (not timed), then `deletion.carry_out` end to end, with the registry's handlers
and store eraser wrapped to read the clock (nothing else changes):
- db ms: from the call to the store eraser's start: the locked read of the request, every
  handler's erase, the receipt and audit entry, the commit ("handlers" is their sum);
- store ms: the `events` store eraser (`EventStore.erase`: find the pieces that hold the
  person, rewrite each of them, swap them in); "find" is the part spent finding them (the
  store's `_holding` scans, timed on the instance), "pieces" how many files it rewrote;
- after ms: the receipt's second unit of work and the after-erasure hooks (on SQLite the
  truncating WAL checkpoint);
- total ms: the whole call.
Below each table: every handler's p50 / max ms, and the costliest kinds of SQL statement
(kind and table, timed at the driver's execute: count, total ms over the runs, slowest).
The baseline ("naive"), measured after each erasure in the same run: every Parquet piece
of the merchant (seg/, roll/, links/) copied once by a fresh DuckDB connection with
`COPY (SELECT * FROM read_parquet(...)) TO ... (zstd)`, each copy fsynced: the least an
erasure that rewrites everything would cost ("naive seg" is the seg/ files alone).
store/naive = store ms ÷ naive ms of the same run: 1.0 costs as much as rewriting
everything; lower is better. p50 and max are taken column by column over the runs (the
ratios too, per run); the first run is also the coldest. Other processes share the
machine: the load average is printed at the start and the end.

Checks afterwards: no row of any piece (events: distinct_id, member_id, share_code,
properties; roll-ups: distinct_id, member_id; links: distinct_id, person_id, member_id) nor
of the store's `events` and `hours` relations holds any id of the erased members (member id,
openid, device), where before they did; the event count, sum(amount), the distinct people
and the roll-ups' sum(n) and sum(gmv) are what they were; each erasure re-keyed exactly the
member's generated events; the member row is 'deleted' and its token check
(`IdentityPrincipals.member_active`) refuses it; no platform account, analytics identity,
points or coupon of the member remains; the request is 'done'; no temporary file is left.

This script prints figures; it never asserts timings.

    .venv/bin/python bench/erasure.py [--configs sqlite,postgres] [--pg-url URL]
        [--members 20000] [--events 1000000] [--segments 10] [--rolled 8] [--days 90]
        [--repeat 5] [--target-events 50] [--audit 5] [--orders 2]
    quick: .venv/bin/python bench/erasure.py --events 100000 --members 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from harness import load_average
from sqlalchemy import event, func, insert, or_, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from growthloop.analytics.models import AnalyticsIdentity
from growthloop.analytics.rows import ARROW_SCHEMA, Override
from growthloop.compliance import deletion
from growthloop.compliance.models import ConsentRecord, ConsentState, DeletionRequest
from growthloop.compliance.policy import POLICY_VERSION
from growthloop.compliance.registry import PrivacyRegistry
from growthloop.core.audit import AuditEntry
from growthloop.core.config import Settings
from growthloop.core.ids import new_id
from growthloop.core.privacy import Erasure, PrivacyHandler
from growthloop.core.runtime import Runtime
from growthloop.identity import service as identity
from growthloop.identity.models import Member, PlatformAccount
from growthloop.loyalty import ledger
from growthloop.loyalty.models import MemberLoyalty, PointsBatch
from growthloop.migrate import upgrade
from growthloop.orders.models import Order
from growthloop.promotions import service as promotions
from growthloop.promotions.models import Coupon
from growthloop.promotions.schemas import CouponTemplateIn
from growthloop.wiring import build_runtime

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/growthloop_bench_erasure"
CHUNK = 5000  # rows per executemany
US = 1_000_000
DEVICE_SHARE = 0.3  # members with a device identified at sign-up
MEMBER_EVENT_SHARE = 0.9  # the rest are anonymous visitors'
SQL_SHOWN = 6

EVENTS = ("page_view", "add_to_cart", "order.paid", "member.login", "share.opened")
EVENT_P = (0.70, 0.12, 0.08, 0.08, 0.02)
PV, CART, PAID, LOGIN, SHARE = range(len(EVENTS))
PLATFORMS = ("wechat", "alipay", "douyin", "app")
PLATFORM_P = (0.6, 0.15, 0.15, 0.1)
CHANNELS = ("table_qr", "wechat_search", "friend_share")
PAGES = ("pages/menu/index", "pages/product/detail", "pages/cart/index", "pages/me/index")
PROPERTIES = ('{"$lib":"bench"}', '{"$lib":"bench","sku":"tea"}', '{"source":"order"}')


def log(config: str, message: str) -> None:
    print(f"[{config}] {message}", flush=True)


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def epoch_us(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values))


# --- PostgreSQL: the bench database, from --pg-url ------------------------------------------


def pg_parts(url: str) -> tuple[str, str]:
    """(the maintenance database's asyncpg DSN, the bench database's name)."""
    u = make_url(url)
    if not u.database:
        raise ValueError(f"--pg-url names no database: {url}")
    admin = u.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), u.database


async def pg_admin(url: str, *statements: str) -> str | None:
    """Run statements on the maintenance database; returns why not if unreachable."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed"
    dsn, _ = pg_parts(url)
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()
    return None


async def pg_reset(url: str) -> str | None:
    name = pg_parts(url)[1].replace('"', '""')
    return await pg_admin(
        url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
    )


async def pg_drop(url: str) -> None:
    name = pg_parts(url)[1].replace('"', '""')
    with contextlib.suppress(Exception):
        await pg_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the population and its events ----------------------------------------------------------


@dataclass
class Population:
    member_ids: list[str]
    openids: list[str]
    devices: list[str]  # one name per member; used only where has_device
    visitors: list[str]
    has_device: np.ndarray  # bool per member
    platform: np.ndarray  # int8 per member
    joined: datetime

    @property
    def members(self) -> int:
        return len(self.member_ids)

    def ids_of(self, k: int) -> list[str]:
        """Every id the event store may hold for member k."""
        ids = [self.member_ids[k], self.openids[k]]
        return [*ids, self.devices[k]] if self.has_device[k] else ids


def make_population(members: int, joined: datetime, rng: np.random.Generator) -> Population:
    return Population(
        member_ids=[new_id(joined) for _ in range(members)],
        openids=[f"bench-openid-{k:07d}" for k in range(members)],
        devices=[f"bench-device-{k:07d}" for k in range(members)],
        visitors=[f"bench-visitor-{j:07d}" for j in range(max(100, members // 2))],
        has_device=rng.random(members) < DEVICE_SHARE,
        platform=rng.choice(len(PLATFORMS), members, p=PLATFORM_P).astype(np.int8),
        joined=joined,
    )


@dataclass
class Events:
    """The generated events as columns, sorted by time. Distinct ids index the dictionary
    member ids + openids + devices + visitors; properties index PROPERTIES + one sharer
    entry per member."""

    did: np.ndarray  # int32
    member: np.ndarray  # int32 member index of the member_id column, -1 = NULL
    owner: np.ndarray  # int32 member index of the person, -1 = an anonymous visitor
    event: np.ndarray  # int8
    time: np.ndarray  # int64 epoch microseconds
    platform: np.ndarray  # int8
    page: np.ndarray  # int8, -1 = NULL
    channel: np.ndarray  # int8, -1 = NULL
    amount: np.ndarray  # int64 fen
    prop: np.ndarray  # int32
    sharer: np.ndarray  # int32 member named in the properties, -1 = none

    def __len__(self) -> int:
        return len(self.time)


def generate(pop: Population, n: int, start_us: int, days: int, seed: int) -> Events:
    rng = np.random.default_rng(seed)
    m, v = pop.members, len(pop.visitors)
    weight = rng.lognormal(0.0, 1.0, m)
    weight /= weight.sum()
    by_member = rng.random(n) < MEMBER_EVENT_SHARE
    n_member = int(by_member.sum())
    owner = np.full(n, -1, dtype=np.int32)
    owner[by_member] = rng.choice(m, n_member, p=weight)
    visitor = rng.integers(0, v, n)
    # Under which id a member's event arrives: the member id, the openid, or the device.
    how = rng.choice(3, n, p=(0.7, 0.2, 0.1))
    o = np.maximum(owner, 0)
    how = np.where((how == 2) & ~pop.has_device[o], 0, how)
    did = np.where(
        owner < 0, 3 * m + visitor, np.where(how == 0, o, np.where(how == 1, m + o, 2 * m + o))
    ).astype(np.int32)
    member = np.where((owner >= 0) & (how < 2), owner, -1).astype(np.int32)
    event = rng.choice(len(EVENTS), n, p=EVENT_P).astype(np.int8)
    at = start_us + rng.integers(0, days * 24 * 3600 * US, n)
    visitor_platform = rng.choice(len(PLATFORMS), v, p=PLATFORM_P).astype(np.int8)
    platform = np.where(owner >= 0, pop.platform[o], visitor_platform[visitor]).astype(np.int8)
    page = np.where(event == PV, rng.integers(0, len(PAGES), n), -1).astype(np.int8)
    channel = np.where(rng.random(n) < 0.3, rng.integers(0, len(CHANNELS), n), -1).astype(np.int8)
    amount = np.where(
        event == PAID, np.maximum(100, rng.lognormal(np.log(3000), 0.6, n)).astype(np.int64), 0
    )
    sharer = np.where(event == SHARE, rng.choice(m, n, p=weight), -1).astype(np.int32)
    prop = np.where(
        event == SHARE,
        len(PROPERTIES) + sharer,
        np.where(event == CART, 1, np.where(event == PAID, 2, 0)),
    ).astype(np.int32)
    order = np.argsort(at, kind="stable")
    return Events(
        did=did[order],
        member=member[order],
        owner=owner[order],
        event=event[order],
        time=at[order],
        platform=platform[order],
        page=page[order],
        channel=channel[order],
        amount=amount[order],
        prop=prop[order],
        sharer=sharer[order],
    )


def _strings(codes: np.ndarray, values: pa.Array, null: np.ndarray | None = None) -> pa.Array:
    indices = pa.array(codes.astype(np.int32), mask=null)
    return pa.DictionaryArray.from_arrays(indices, values).cast(pa.string())


@dataclass
class Dictionaries:
    ids: pa.Array
    members: pa.Array
    properties: pa.Array

    @classmethod
    def of(cls, pop: Population) -> Dictionaries:
        sharers = [f'{{"sharer":"{mid}"}}' for mid in pop.member_ids]
        return cls(
            ids=pa.array(pop.member_ids + pop.openids + pop.devices + pop.visitors, pa.string()),
            members=pa.array(pop.member_ids, pa.string()),
            properties=pa.array([*PROPERTIES, *sharers], pa.string()),
        )


def segment(ev: Events, lo: int, hi: int, merchant_id: str, d: Dictionaries) -> pa.Table:
    n = hi - lo
    at = ev.time[lo:hi]
    page, channel, member = ev.page[lo:hi], ev.channel[lo:hi], ev.member[lo:hi]
    ids = pc.cast(pa.array(np.arange(lo, hi, dtype=np.int64)), pa.string())
    columns = {
        "merchant_id": pa.array([merchant_id] * n, pa.string()),
        "uuid": pc.binary_join_element_wise("bench-", ids, ""),
        "event": _strings(ev.event[lo:hi], pa.array(EVENTS)),
        "distinct_id": _strings(ev.did[lo:hi], d.ids),
        "member_id": _strings(np.maximum(member, 0), d.members, null=member < 0),
        "time": pa.array(at, type=pa.timestamp("us", tz="UTC")),
        "received_at": pa.array(at + 350_000, type=pa.timestamp("us", tz="UTC")),
        "platform": _strings(ev.platform[lo:hi], pa.array(PLATFORMS)),
        "page": _strings(np.maximum(page, 0), pa.array(PAGES), null=page < 0),
        "share_code": pa.nulls(n, pa.string()),
        "channel": _strings(np.maximum(channel, 0), pa.array(CHANNELS), null=channel < 0),
        "amount": pa.array(ev.amount[lo:hi]),
        "properties": _strings(ev.prop[lo:hi], d.properties),
    }
    return pa.Table.from_pydict(columns, schema=ARROW_SCHEMA)


# --- the database ---------------------------------------------------------------------------


def member_rows(
    pop: Population, merchant_id: str, k: int, args: argparse.Namespace, rng: np.random.Generator
) -> dict[str, list[dict[str, Any]]]:
    mid, joined = pop.member_ids[k], pop.joined
    platform = PLATFORMS[pop.platform[k]]
    rows: dict[str, list[dict[str, Any]]] = {
        "members": [
            {
                "id": mid,
                "merchant_id": merchant_id,
                "status": "active",
                "nickname": f"茶友{k + 1:05d}",
                "signup_platform": platform,
                "created_at": joined,
                "last_login_at": joined,
            }
        ],
        "accounts": [
            {
                "id": new_id(joined),
                "merchant_id": merchant_id,
                "member_id": mid,
                "platform": platform,
                "app_id": "",
                "openid": pop.openids[k],
                "unionid": None,
                "created_at": joined,
            }
        ],
        "identities": [],
        "records": [],
        "states": [],
        "audit": [],
        "orders": [],
    }
    identity_of = {"merchant_id": merchant_id, "person_id": mid, "member_id": mid}
    rows["identities"] += [
        {
            **identity_of,
            "distinct_id": mid,
            "source": "member",
            "platform_hint": platform,
            "created_at": joined,
        },
        {
            **identity_of,
            "distinct_id": pop.openids[k],
            "source": "member",
            "platform_hint": None,
            "created_at": joined,
        },
    ]
    if pop.has_device[k]:
        rows["identities"].append(
            {
                **identity_of,
                "distinct_id": pop.devices[k],
                "source": "identify",
                "platform_hint": None,
                "created_at": joined,
            }
        )
    consent = {
        "merchant_id": merchant_id,
        "member_id": mid,
        "purpose": "membership",
        "granted": True,
        "policy_version": POLICY_VERSION,
        "platform": platform,
    }
    record_id = new_id(joined)
    rows["records"].append(
        {**consent, "id": record_id, "source": "first_payment", "created_at": joined}
    )
    rows["states"].append({**consent, "record_id": record_id, "updated_at": joined})
    for a in range(args.audit):
        details = (
            {"reason": f"会员 {k + 1} 来电修改订单"}
            if a % 5 == 4
            else {"purpose": "marketing", "granted": True}
        )
        rows["audit"].append(
            {
                "id": new_id(joined),
                "merchant_id": merchant_id,
                "actor_type": "member",
                "actor_id": mid,
                "action": "consent.update",
                "subject_type": "member",
                "subject_id": mid,
                "member_id": mid,
                "details": details,
                "created_at": joined,
            }
        )
    for _ in range(args.orders):
        at = joined + timedelta(days=float(rng.uniform(1, args.days)))
        total = int(rng.integers(900, 5000))
        rows["orders"].append(
            {
                "id": new_id(at),
                "merchant_id": merchant_id,
                "member_id": mid,
                "status": "completed",
                "source": "app",
                "subtotal": total,
                "discount": 0,
                "points_deduction": 0,
                "payable": total,
                "points_used": 0,
                "created_at": at,
                "paid_at": at + timedelta(minutes=1),
                "completed_at": at + timedelta(minutes=12),
            }
        )
    return rows


TABLES = {
    "members": Member,
    "accounts": PlatformAccount,
    "identities": AnalyticsIdentity,
    "records": ConsentRecord,
    "states": ConsentState,
    "audit": AuditEntry,
    "orders": Order,
}


async def fill_database(
    rt: Runtime, pop: Population, args: argparse.Namespace, now: datetime
) -> tuple[str, dict[str, int]]:
    """The merchant and its members; (merchant id, rows per table)."""
    rng = np.random.default_rng(args.seed + 1)
    async with rt.db.unit_of_work() as uow:
        merchant, _ = await identity.create_merchant(
            uow.session, "Erasure bench", "bench@x.test", "bench-password", now
        )
        merchant_id = merchant.id
    counts = dict.fromkeys(TABLES, 0)
    for lo in range(0, pop.members, 2000):
        batch: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        for k in range(lo, min(pop.members, lo + 2000)):
            for name, rows in member_rows(pop, merchant_id, k, args, rng).items():
                batch[name] += rows
        async with rt.db.unit_of_work() as uow:
            for name in TABLES:  # members first: the platform accounts refer to them
                rows = batch[name]
                for start in range(0, len(rows), CHUNK):
                    await uow.session.execute(
                        insert(TABLES[name].__table__), rows[start : start + CHUNK]
                    )
                counts[name] += len(rows)
    return merchant_id, counts


async def give_through_services(rt: Runtime, merchant_id: str, targets: list[str]) -> None:
    """Points and a coupon for each member to be erased, as the domains grant them."""
    now = rt.clock.now()
    async with rt.db.unit_of_work() as uow:
        template = await promotions.create_template(
            uow.session,
            merchant_id,
            CouponTemplateIn(name="满30减5", kind="amount_off", value=500, min_spend=3000),
        )
        template_id = template.id
    for mid in targets:
        async with rt.db.unit_of_work() as uow:
            for n in range(3):
                await ledger.earn(
                    uow.session,
                    merchant_id,
                    mid,
                    100 + n,
                    reason="order",
                    key=f"bench-earn-{mid}-{n}",
                    ref=None,
                    now=now,
                    expires_at=now + timedelta(days=365),
                )
            await promotions.grant_coupon(
                uow.session, merchant_id, template_id, mid, source="issue", key=f"bench-{mid}"
            )


# --- the erasure, instrumented --------------------------------------------------------------


@dataclass
class Marks:
    handlers: dict[str, float] = field(default_factory=dict)  # section -> ms
    store_start: float = 0.0
    store_end: float = 0.0
    find_ms: float = 0.0


def _timed_handler(handler: PrivacyHandler, marks: Marks) -> PrivacyHandler:
    async def erase(session: Any, erasure: Erasure) -> dict[str, int]:
        start = time.perf_counter()
        try:
            return await handler.erase(session, erasure)
        finally:
            marks.handlers[handler.section] = ms_since(start)

    return dataclasses.replace(handler, erase=erase)


def _timed_store(
    eraser: Callable[[Erasure], Awaitable[dict[str, int]]], marks: Marks
) -> Callable[[Erasure], Awaitable[dict[str, int]]]:
    async def erase(erasure: Erasure) -> dict[str, int]:
        marks.store_start = time.perf_counter()
        try:
            return await eraser(erasure)
        finally:
            marks.store_end = time.perf_counter()

    return erase


def instrumented(registry: PrivacyRegistry, marks: Marks) -> PrivacyRegistry:
    """The same registry with clocks around each handler and store eraser."""
    return PrivacyRegistry(
        handlers=[_timed_handler(h, marks) for h in registry.handlers],
        stores={name: _timed_store(e, marks) for name, e in registry.stores.items()},
        after_erasure=list(registry.after_erasure),
        data_map=registry.data_map,
    )


def statement_label(statement: str) -> str:
    s = " ".join(statement.split()).upper()
    kind = s.split(" ", 1)[0]
    match = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", s)
    return f"{kind} {match.group(1).lower() if match else ''}".strip()


class SqlTimer:
    """Each execution of each kind of statement (kind and table), timed around the
    driver's execute, round trip included."""

    def __init__(self) -> None:
        self.times: defaultdict[str, list[float]] = defaultdict(list)  # label -> ms
        self._engine: Any = None

    def _before(self, conn: Connection, *_: Any) -> None:
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def _after(self, conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        elapsed = ms_since(conn.info["bench_t0"].pop())
        self.times[statement_label(statement)].append(elapsed)

    def attach(self, engine: AsyncEngine) -> None:
        self._engine = engine.sync_engine
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)

    def detach(self) -> None:
        if self._engine is not None:
            event.remove(self._engine, "before_cursor_execute", self._before)
            event.remove(self._engine, "after_cursor_execute", self._after)
            self._engine = None


@contextlib.contextmanager
def timing_find(store: Any, marks: Marks) -> Iterator[None]:
    """Time the store's scans for the pieces holding the person (`_holding`)."""
    original = store._holding

    def holding(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            marks.find_ms += ms_since(start)

    store._holding = holding
    try:
        yield
    finally:
        del store._holding


@dataclass
class Run:
    member: str
    events: int  # the member's generated events (all their ids)
    mentions: int  # other people's events naming them as the sharer
    db_ms: float
    handlers_ms: float
    store_ms: float
    find_ms: float
    after_ms: float
    total_ms: float
    pieces: int
    rekeyed: int  # the store's count of re-keyed events
    mentions_rewritten: int
    naive_ms: float
    naive_seg_ms: float
    handler_ms: dict[str, float]
    receipt: dict[str, Any]
    sql: dict[str, list[float]]  # statement label -> ms of each execution


def naive_rewrite(mdir: Path, out: Path) -> tuple[float, float, int]:
    """Copy every piece of the merchant once; (ms for all, ms for seg/ alone, files)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {sub: sorted((mdir / sub).glob("*.parquet")) for sub in ("seg", "roll", "links")}
    con = duckdb.connect()
    try:
        spent = dict.fromkeys(files, 0.0)
        n = 0
        for sub, paths in files.items():
            start = time.perf_counter()
            for path in paths:
                target = out / f"{n:04d}.parquet"
                con.execute(
                    f"COPY (SELECT * FROM read_parquet('{path}')) TO '{target}' "
                    "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 256000)"
                )
                fd = os.open(target, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                n += 1
            spent[sub] = ms_since(start)
    finally:
        con.close()
        shutil.rmtree(out, ignore_errors=True)
    return sum(spent.values()), spent["seg"], n


async def erase_one(
    rt: Runtime, merchant_id: str, mid: str, events: int, mentions: int, naive_dir: Path
) -> Run:
    async with rt.db.unit_of_work() as uow:
        request, _ = await deletion.request_deletion(uow.session, merchant_id, mid, 7)
        request_id = request.id
    marks = Marks()
    registry = instrumented(rt.privacy, marks)
    sql = SqlTimer()
    sql.attach(rt.db.engine)
    try:
        with timing_find(rt.analytics.store, marks):
            start = time.perf_counter()
            receipt = await deletion.carry_out(rt.db, registry, rt.clock, request_id)
            end = time.perf_counter()
    finally:
        sql.detach()
    if receipt is None:
        raise RuntimeError(f"the deletion request {request_id} was not pending")
    stores = receipt["stores"]["events"]
    naive_ms, naive_seg_ms, _ = await asyncio.to_thread(
        naive_rewrite, rt.analytics.store.root / merchant_id, naive_dir
    )
    return Run(
        member=mid,
        events=events,
        mentions=mentions,
        db_ms=(marks.store_start - start) * 1000,
        handlers_ms=sum(marks.handlers.values()),
        store_ms=(marks.store_end - marks.store_start) * 1000,
        find_ms=marks.find_ms,
        after_ms=(end - marks.store_end) * 1000,
        total_ms=(end - start) * 1000,
        pieces=int(stores.get("pieces", 0)),
        rekeyed=int(stores.get("events", 0)),
        mentions_rewritten=int(stores.get("mentions", 0)),
        naive_ms=naive_ms,
        naive_seg_ms=naive_seg_ms,
        handler_ms=dict(marks.handlers),
        receipt=receipt,
        sql=dict(sql.times),
    )


# --- the checks -----------------------------------------------------------------------------


async def store_totals(rt: Runtime, merchant_id: str) -> dict[str, int]:
    store = rt.analytics.store
    events = await store.query(
        merchant_id, "SELECT count(*), sum(amount), count(DISTINCT person) FROM events"
    )
    hours = await store.query(
        merchant_id, "SELECT sum(n), sum(gmv), count(DISTINCT person) FROM hours"
    )
    (n, amount, people), (hn, gmv, hour_people) = events[0], hours[0]
    return {
        "events": int(n),
        "sum(amount)": int(amount or 0),
        "people": int(people),
        "hours sum(n)": int(hn or 0),
        "hours sum(gmv)": int(gmv or 0),
        "hours people": int(hour_people),
    }


def rows_naming(mdir: Path, ids: list[str]) -> dict[str, int]:
    """Rows of the merchant's pieces that hold any of `ids`, read by a fresh DuckDB."""
    listed = sql_list(ids)
    props = " OR ".join(f"contains(properties, '{i}')" for i in ids)
    queries = {
        "seg": (
            f"distinct_id IN ({listed}) OR member_id IN ({listed}) "
            f"OR share_code IN ({listed}) OR {props}"
        ),
        "roll": f"distinct_id IN ({listed}) OR member_id IN ({listed})",
        "links": (
            f"distinct_id IN ({listed}) OR person_id IN ({listed}) OR member_id IN ({listed})"
        ),
    }
    found = {}
    con = duckdb.connect()
    try:
        for sub, where in queries.items():
            if not list((mdir / sub).glob("*.parquet")):
                found[sub] = 0
                continue
            row = con.execute(
                f"SELECT count(*) FROM read_parquet('{mdir / sub}/*.parquet') WHERE {where}"
            ).fetchone()
            found[sub] = int(row[0]) if row else 0
    finally:
        con.close()
    return found


async def relations_naming(rt: Runtime, merchant_id: str, ids: list[str]) -> dict[str, int]:
    listed = sql_list(ids)
    props = " OR ".join(f"contains(properties, '{i}')" for i in ids)
    store = rt.analytics.store
    e = await store.query(
        merchant_id,
        f"SELECT count(*) FROM events WHERE person IN ({listed}) OR mem IN ({listed}) "
        f"OR distinct_id IN ({listed}) OR {props}",
    )
    h = await store.query(
        merchant_id,
        f"SELECT count(*) FROM hours WHERE person IN ({listed}) OR mem IN ({listed}) "
        f"OR distinct_id IN ({listed})",
    )
    return {"events": int(e[0][0]), "hours": int(h[0][0])}


async def database_leftovers(
    rt: Runtime, merchant_id: str, mid: str, ids: list[str]
) -> dict[str, Any]:
    ai = AnalyticsIdentity
    async with rt.db.unit_of_work(write=False) as uow:
        s = uow.session

        async def count(model: Any, *where: Any) -> int:
            return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        return {
            "status": await s.scalar(select(Member.status).where(Member.id == mid)),
            "token accepted": await rt.principals.member_active(s, mid, merchant_id)
            if rt.principals
            else None,
            "platform accounts": await count(PlatformAccount, PlatformAccount.member_id == mid),
            "analytics identities": await count(
                ai,
                ai.merchant_id == merchant_id,
                or_(ai.distinct_id.in_(ids), ai.person_id.in_(ids), ai.member_id == mid),
            ),
            "points batches": await count(PointsBatch, PointsBatch.member_id == mid),
            "loyalty accounts": await count(MemberLoyalty, MemberLoyalty.member_id == mid),
            "coupons": await count(Coupon, Coupon.member_id == mid),
            "requests done": await count(
                DeletionRequest, DeletionRequest.member_id == mid, DeletionRequest.status == "done"
            ),
        }


def temporary_files(mdir: Path) -> int:
    return sum(1 for p in mdir.rglob("*.tmp") if p.is_file())


# --- one configuration ----------------------------------------------------------------------


@dataclass
class Result:
    config: str
    members: int
    events: int
    segments: int
    rolled: int
    store_mb: float = 0.0
    pieces_on_disk: int = 0
    db_rows: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # name -> seconds
    runs: list[Run] = field(default_factory=list)
    checks: list[tuple[bool, str]] = field(default_factory=list)


def pick_targets(pop: Population, ev: Events, r: int, near: int) -> list[int]:
    """`r` members with a linked device whose event count is nearest `near`."""
    counts = np.bincount(ev.owner[ev.owner >= 0], minlength=pop.members)
    candidates = np.flatnonzero(pop.has_device & (counts > 0))
    order = candidates[np.argsort(np.abs(counts[candidates] - near), kind="stable")]
    return [int(k) for k in order[:r]]


async def bench_config(config: str, args: argparse.Namespace, tmp: Path) -> Result | str:
    database_url: str | None = None
    if config == "postgres":
        why = await pg_reset(args.pg_url)
        if why:
            return f"PostgreSQL unreachable at {make_url(args.pg_url).host} ({why}); skipped"
        database_url = args.pg_url
    data_dir = tmp / config
    data_dir.mkdir()
    res = Result(config, args.members, args.events, args.segments, args.rolled)
    settings = Settings(env="test", data_dir=data_dir, database_url=database_url, run_sweeper=False)
    rt = build_runtime(settings)
    try:
        start = time.perf_counter()
        await upgrade(rt.db.engine)
        res.phases["migrate"] = time.perf_counter() - start

        now = rt.clock.now()
        period_start = (now - timedelta(days=args.days)).replace(microsecond=0)
        rng = np.random.default_rng(args.seed)
        pop = make_population(args.members, period_start - timedelta(days=1), rng)
        log(config, f"database: a merchant and {args.members:,} members...")
        start = time.perf_counter()
        merchant_id, res.db_rows = await fill_database(rt, pop, args, now)
        res.phases["database fill"] = time.perf_counter() - start

        log(config, f"generating {args.events:,} events over {args.days} days...")
        start = time.perf_counter()
        ev = generate(pop, args.events, epoch_us(period_start), args.days, args.seed + 2)
        targets = pick_targets(pop, ev, args.repeat, args.target_events)
        res.phases["generate"] = time.perf_counter() - start
        target_ids = [pop.member_ids[k] for k in targets]
        start = time.perf_counter()
        await give_through_services(rt, merchant_id, target_ids)
        res.phases["services (points, coupons)"] = time.perf_counter() - start

        log(config, f"writing {args.segments} segments, roll-up after {args.rolled}...")
        store = rt.analytics.store
        start = time.perf_counter()
        await store.add_overrides(
            [
                Override(merchant_id, pop.devices[k], pop.member_ids[k], pop.member_ids[k], now)
                for k in np.flatnonzero(pop.has_device)
            ]
        )
        d = Dictionaries.of(pop)
        bounds = np.linspace(0, len(ev), args.segments + 1).astype(int)
        for i in range(args.segments):
            await store.append(segment(ev, bounds[i], bounds[i + 1], merchant_id, d))
            if i + 1 == args.rolled:
                await store.roll_up()
        res.phases["store append + roll_up"] = time.perf_counter() - start
        mdir = store.root / merchant_id
        pieces = list(mdir.rglob("*.parquet"))
        res.pieces_on_disk = len(pieces)
        res.store_mb = sum(p.stat().st_size for p in pieces) / 1e6

        before = await store_totals(rt, merchant_id)
        all_ids = [i for k in targets for i in pop.ids_of(k)]
        files_before = rows_naming(mdir, all_ids)
        relations_before = await relations_naming(rt, merchant_id, all_ids)

        log(config, f"erasing {len(targets)} members, each followed by the naive rewrite...")
        for k in targets:
            mid = pop.member_ids[k]
            run = await erase_one(
                rt,
                merchant_id,
                mid,
                events=int((ev.owner == k).sum()),
                mentions=int(((ev.sharer == k) & (ev.owner != k)).sum()),
                naive_dir=tmp / f"{config}-naive",
            )
            res.runs.append(run)
            log(
                config,
                f"  {mid}: total {run.total_ms:.0f} ms (db {run.db_ms:.0f}, store "
                f"{run.store_ms:.0f}, {run.pieces} pieces), naive {run.naive_ms:.0f} ms",
            )
            leftovers = await database_leftovers(rt, merchant_id, mid, pop.ids_of(k))
            clean = (
                leftovers["status"] == "deleted"
                and leftovers["token accepted"] is False
                and leftovers["requests done"] == 1
                and not any(
                    leftovers[name]
                    for name in (
                        "platform accounts",
                        "analytics identities",
                        "points batches",
                        "loyalty accounts",
                        "coupons",
                    )
                )
            )
            res.checks.append(
                (
                    clean,
                    f"{config} {mid}: member 'deleted', token refused, nothing left in the "
                    f"database ({leftovers})",
                )
            )
            res.checks.append(
                (
                    run.rekeyed == run.events and run.mentions_rewritten == run.mentions,
                    f"{config} {mid}: the store re-keyed {run.rekeyed} events (generated "
                    f"{run.events}) and rewrote {run.mentions_rewritten} mentions "
                    f"(generated {run.mentions})",
                )
            )

        after = await store_totals(rt, merchant_id)
        files_after = rows_naming(mdir, all_ids)
        relations_after = await relations_naming(rt, merchant_id, all_ids)
        res.checks += [
            (
                sum(files_before.values()) > 0 and not any(files_after.values()),
                f"{config}: rows of the pieces naming the erased members: before {files_before}"
                f", after {files_after}",
            ),
            (
                sum(relations_before.values()) > 0 and not any(relations_after.values()),
                f"{config}: rows of the store's relations naming them: before "
                f"{relations_before}, after {relations_after}",
            ),
            (before == after, f"{config}: totals unchanged: {after}"),
            (
                temporary_files(mdir) == 0
                and len(list(mdir.rglob("*.parquet"))) == res.pieces_on_disk,
                f"{config}: no temporary file left, {res.pieces_on_disk} pieces as before",
            ),
        ]
        if before != after:
            print(f"    before {before}")
    finally:
        await rt.analytics.store.close()
        await rt.db.dispose()
        if config == "postgres":
            await pg_drop(args.pg_url)
    return res


# --- report ---------------------------------------------------------------------------------


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_result(res: Result) -> None:
    print()
    print(
        f"== {res.config}: {res.members:,} members, {res.events:,} events in {res.segments} "
        f"segments ({res.rolled} rolled up), {res.pieces_on_disk} pieces, "
        f"{res.store_mb:.1f} MB =="
    )
    print("database rows: " + ", ".join(f"{k} {n:,}" for k, n in res.db_rows.items()))
    print("setup: " + ", ".join(f"{k} {s:.1f}s" for k, s in res.phases.items()))
    header = (
        f"{'run':<6}{'events':>7}{'ment.':>6}{'db ms':>8}{'handl.':>8}{'store ms':>10}"
        f"{'find':>7}{'pieces':>7}{'after':>7}{'total ms':>10}{'naive ms':>10}"
        f"{'naive seg':>10}{'store/naive':>12}{'total/naive':>12}"
    )
    print(header)
    print("-" * len(header))

    def row(label: str, values: dict[str, float]) -> None:
        print(
            f"{label:<6}{values['events']:>7.0f}{values['mentions']:>6.0f}{values['db']:>8.0f}"
            f"{values['handlers']:>8.0f}{values['store']:>10.0f}{values['find']:>7.0f}"
            f"{values['pieces']:>7.0f}{values['after']:>7.0f}{values['total']:>10.0f}"
            f"{values['naive']:>10.0f}{values['naive_seg']:>10.0f}"
            f"{values['store/naive']:>12.2f}{values['total/naive']:>12.2f}"
        )

    def values_of(r: Run) -> dict[str, float]:
        return {
            "events": r.events,
            "mentions": r.mentions,
            "db": r.db_ms,
            "handlers": r.handlers_ms,
            "store": r.store_ms,
            "find": r.find_ms,
            "pieces": r.pieces,
            "after": r.after_ms,
            "total": r.total_ms,
            "naive": r.naive_ms,
            "naive_seg": r.naive_seg_ms,
            "store/naive": r.store_ms / r.naive_ms,
            "total/naive": r.total_ms / r.naive_ms,
        }

    table = [values_of(r) for r in res.runs]
    for i, values in enumerate(table, 1):
        row(f"#{i}", values)
    if table:
        print("-" * len(header))
        row("p50", {k: p50([v[k] for v in table]) for k in table[0]})
        row("max", {k: max(v[k] for v in table) for k in table[0]})
    sections = sorted(
        {s for r in res.runs for s in r.handler_ms},
        key=lambda s: -p50([r.handler_ms.get(s, 0.0) for r in res.runs]),
    )
    print(
        "handlers, p50 / max ms: "
        + ", ".join(
            f"{s} {p50([r.handler_ms.get(s, 0.0) for r in res.runs]):.1f}"
            f"/{max(r.handler_ms.get(s, 0.0) for r in res.runs):.1f}"
            for s in sections
        )
    )
    spent: defaultdict[str, list[float]] = defaultdict(list)
    for r in res.runs:
        for label, times in r.sql.items():
            spent[label] += times
    top = sorted(spent.items(), key=lambda kv: -sum(kv[1]))[:SQL_SHOWN]
    print(
        f"SQL statements of the erasures, the {SQL_SHOWN} costliest kinds (count, ms total "
        "over the runs / slowest one): "
        + ", ".join(f"{k} {len(t)}x {sum(t):.0f}/{max(t):.1f}" for k, t in top)
    )
    if res.runs:
        last = res.runs[-1].receipt
        print(f"receipt of the last run, stores: {last['stores']}")


def print_summary(results: list[Result]) -> None:
    print()
    print("== summary: erasing one member, p50 of the runs ((max): the slowest total) ==")
    header = (
        f"{'config':<10}{'members':>9}{'events':>11}{'db ms':>8}{'store ms':>10}{'pieces':>8}"
        f"{'total ms':>10}{'(max)':>8}{'naive ms':>10}{'store/naive':>12}{'total/naive':>12}"
    )
    print(header)
    print("-" * len(header))
    for res in results:
        runs = res.runs
        if not runs:
            continue
        print(
            f"{res.config:<10}{res.members:>9,}{res.events:>11,}"
            f"{p50([r.db_ms for r in runs]):>8.0f}{p50([r.store_ms for r in runs]):>10.0f}"
            f"{p50([float(r.pieces) for r in runs]):>8.0f}{p50([r.total_ms for r in runs]):>10.0f}"
            f"{max(r.total_ms for r in runs):>8.0f}{p50([r.naive_ms for r in runs]):>10.0f}"
            f"{p50([r.store_ms / r.naive_ms for r in runs]):>12.2f}"
            f"{p50([r.total_ms / r.naive_ms for r in runs]):>12.2f}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--configs", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--pg-url", default=PG_URL, help="created and dropped by the script")
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=10, help="one append each")
    parser.add_argument("--rolled", type=int, default=8, help="segments before the roll-up")
    parser.add_argument("--days", type=int, default=90, help="the events' period")
    parser.add_argument("--repeat", type=int, default=5, help="members erased, one by one")
    parser.add_argument("--target-events", type=int, default=50, help="events of each")
    parser.add_argument("--audit", type=int, default=5, help="audit entries per member")
    parser.add_argument("--orders", type=int, default=2, help="orders per member")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if not args.configs or set(args.configs) - {"sqlite", "postgres"}:
        parser.error("--configs: sqlite, postgres")
    if min(args.members, args.events, args.segments, args.days, args.repeat) <= 0:
        parser.error("counts must be positive")
    if not 0 <= args.rolled <= args.segments:
        parser.error("--rolled: 0 .. --segments")
    if args.repeat > args.members * DEVICE_SHARE / 2:
        parser.error("--repeat: at most a sixth of --members")
    if min(args.audit, args.orders, args.target_events) < 0:
        parser.error("--audit, --orders, --target-events: not negative")
    return args


async def main() -> None:
    args = parse_args()
    print(
        f"load average at the start: {load_average()}   nproc: {len(os.sched_getaffinity(0))}   "
        f"python {sys.version.split()[0]}, duckdb {duckdb.__version__}, pyarrow "
        f"{pa.__version__}, sqlalchemy {sa.__version__}",
        flush=True,
    )
    results: list[Result] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="growthloop-bench-erasure-") as tmp_name:
        for config in args.configs:
            out = await bench_config(config, args, Path(tmp_name))
            if isinstance(out, str):
                skipped.append(f"{config}: {out}")
                print(f"[{config}] {out}", flush=True)
            else:
                results.append(out)
    for res in results:
        print_result(res)
    print_summary(results)
    for line in skipped:
        print(f"skipped {line}")
    print()
    for res in results:
        for ok, text in res.checks:
            print(f"{'OK  ' if ok else 'FAIL'} {text}")
    print()
    print(f"load average at the end: {load_average()} (other processes share this machine)")


if __name__ == "__main__":
    asyncio.run(main())
