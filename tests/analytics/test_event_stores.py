"""Both event stores give the same answers to the same SQL over `events` and `hours`.

Every test runs against the DuckDB store (a fresh directory) and the ClickHouse store on
chdb. chdb hosts one engine per process, so the ClickHouse store is opened once for the
module and each test writes under a merchant id of its own.

Queries here return no TIMESTAMPTZ from DuckDB: its Python client needs pytz to convert
them, which is not installed (the ClickHouse-only test checks the types it returns).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from growthloop.analytics.backends import clickhouse
from growthloop.analytics.backends.base import EventStore
from growthloop.analytics.backends.clickhouse import ClickHouseDialect, ClickHouseEventStore
from growthloop.analytics.backends.duckdb import COMPACT_AT, DuckDBEventStore
from growthloop.analytics.rows import EventRow, Override, to_arrow

SHANGHAI = "Asia/Shanghai"
T0 = datetime(2026, 3, 1, 15, 59, 59, 999999, tzinfo=UTC)  # Sun 1 Mar, 23:59:59.999999 there
T1 = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # Mon 2 Mar, 00:00 in Shanghai
_seq = itertools.count(1)


def ev(
    merchant_id: str,
    distinct_id: str,
    *,
    event: str = "page.view",
    member_id: str | None = None,
    time: datetime = T1,
    platform: str = "wechat",
    amount: int = 0,
    page: str | None = None,
    share_code: str | None = None,
    channel: str | None = None,
    properties: Mapping[str, object] | None = None,
    uuid: str | None = None,
) -> EventRow:
    return EventRow(
        merchant_id=merchant_id,
        uuid=uuid or f"e{next(_seq):08d}",
        event=event,
        distinct_id=distinct_id,
        member_id=member_id,
        time=time,
        received_at=time + timedelta(seconds=1),
        platform=platform,
        page=page,
        share_code=share_code,
        channel=channel,
        amount=amount,
        properties=json.dumps(dict(properties or {}), ensure_ascii=False),
    )


@pytest.fixture(scope="module")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="module")
async def chdb_store(chdb_path: Path) -> AsyncIterator[ClickHouseEventStore]:
    store = ClickHouseEventStore.from_url(f"chdb://{chdb_path}", chdb_path.parent)
    yield store
    await store.close()


@pytest.fixture(params=["duckdb", "clickhouse"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, chdb_store: ClickHouseEventStore
) -> AsyncIterator[EventStore]:
    if request.param == "clickhouse":
        yield chdb_store
        return
    duck = DuckDBEventStore(tmp_path / "events", threads=2)
    yield duck
    await duck.close()


@pytest.fixture
def merchant(request: pytest.FixtureRequest) -> str:
    """A merchant id of this test alone (the ClickHouse store is shared by the module)."""
    return "t" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:20]


async def test_counts_people_and_merchants_apart(store: EventStore, merchant: str) -> None:
    other = merchant + "-b"
    before = await store.count()
    rows = [
        ev(merchant, "d1"),
        ev(merchant, "d1"),  # an anonymous device
        ev(merchant, "d2", member_id="m1"),
        ev(merchant, "d3", member_id="m1"),  # one member on two devices
        ev(other, "d9", member_id="m9"),
    ]
    assert await store.append(rows) == 5
    assert await store.count(merchant) == 4
    assert await store.count(other) == 1
    assert await store.count() - before == 5
    sql = (
        "SELECT count(*), count(DISTINCT person), count(DISTINCT mem), "
        "count(DISTINCT distinct_id) FROM events"
    )
    assert await store.query(merchant, sql) == [(4, 2, 1, 3)]
    assert await store.query(other, sql) == [(1, 1, 1, 1)]
    assert await store.query(merchant + "-none", sql) == [(0, 0, 0, 0)]


async def test_nullable_columns_and_unicode(store: EventStore, merchant: str) -> None:
    props = {"名字": "奶茶 🍵", "quote": 'it\'s \\ "fine"'}
    await store.append(
        [
            ev(merchant, "d1", channel="朋友圈", page="pages/index/index", properties=props),
            ev(merchant, "d2", member_id="m2", share_code="S1", platform="alipay", amount=1500),
        ]
    )
    rows = await store.query(
        merchant,
        "SELECT distinct_id, member_id, page, share_code, channel, platform, amount, event, "
        "properties, mem FROM events ORDER BY distinct_id",
    )
    assert rows == [
        (
            "d1",
            None,
            "pages/index/index",
            None,
            "朋友圈",
            "wechat",
            0,
            "page.view",
            json.dumps(props, ensure_ascii=False),
            None,
        ),
        ("d2", "m2", None, "S1", None, "alipay", 1500, "page.view", "{}", "m2"),
    ]
    d = store.dialect
    assert await store.query(
        merchant,
        f"SELECT {d.prop('名字')}, {d.prop('quote')} FROM events WHERE channel = {d.lit('朋友圈')}",
    ) == [("奶茶 🍵", 'it\'s \\ "fine"')]
    # NULLs sort last both ways
    assert await store.query(merchant, "SELECT member_id FROM events ORDER BY member_id") == [
        ("m2",),
        (None,),
    ]
    assert await store.query(merchant, "SELECT member_id FROM events ORDER BY member_id DESC") == [
        ("m2",),
        (None,),
    ]


@pytest.mark.parametrize("text", ["it's", "back\\slash", "\\'", "a''b", "line\nbreak", "中文"])
async def test_literals_round_trip(store: EventStore, merchant: str, text: str) -> None:
    await store.append([ev(merchant, "d1", page=text)])
    lit = store.dialect.lit(text)
    assert await store.query(
        merchant, f"SELECT {lit}, count(*) FROM events WHERE page = {lit}"
    ) == [(text, 1)]


async def test_local_days_weeks_and_instants(store: EventStore, merchant: str) -> None:
    await store.append(
        [
            ev(merchant, "d1", time=T0),
            ev(merchant, "d1", time=T1),
            ev(merchant, "d2", time=T1 + timedelta(hours=1)),
        ]
    )
    d = store.dialect
    local = d.local_date("time", SHANGHAI)
    assert await store.query(
        merchant,
        f"SELECT {local} AS local_day, {d.week_start(local)} AS week, "
        f"{d.days_between(d.day(date(2026, 2, 27)), local)} AS since, count(*) FROM events "
        "GROUP BY local_day, week, since ORDER BY local_day",
    ) == [
        (date(2026, 3, 1), date(2026, 2, 23), 2, 1),
        (date(2026, 3, 2), date(2026, 3, 2), 3, 2),
    ]
    hour_local = d.local_date("hour", SHANGHAI)
    assert await store.query(
        merchant,
        f"SELECT {hour_local} AS local_day, sum(n) AS n FROM hours "
        "GROUP BY local_day ORDER BY local_day",
    ) == [(date(2026, 3, 1), 1), (date(2026, 3, 2), 2)]

    async def count(where: str) -> int:
        rows = await store.query(merchant, f"SELECT count(*) FROM events WHERE {where}")
        return int(rows[0][0])

    assert await count(f"time >= {d.instant(T1)}") == 2
    assert await count(f"time < {d.instant(T1)}") == 1
    assert await count(f"time = {d.instant(T0)}") == 1  # microseconds kept
    assert await count(f"time = {d.instant(T1.astimezone(ZoneInfo(SHANGHAI)))}") == 1
    assert await count(f"time < {d.instant(T1)} AND time + {d.seconds(1)} > {d.instant(T1)}") == 1
    assert await count(f"{local} = {d.day(date(2026, 3, 2))}") == 2
    assert await store.query(
        merchant, f"SELECT sum(n) FROM hours WHERE hour >= {d.instant(T1)}"
    ) == [(2,)]


async def test_properties(store: EventStore, merchant: str) -> None:
    props = {
        "s": "héllo",
        "i": 12,
        "f": 1.5,
        "e": 1e3,
        "b": True,
        "n": None,
        "o": {"a": [1, 2]},
        "a.b": "dot",
        "empty": "",
    }
    await store.append(
        [
            ev(merchant, "d1", properties={**props, "sku": "tea"}),
            ev(merchant, "d2", properties={"sku": "tea"}),
            ev(merchant, "d3", properties={"sku": "coffee"}),
            ev(merchant, "d4"),
        ]
    )
    d = store.dialect
    keys = ["s", "i", "f", "e", "b", "n", "o", "missing", "a.b", "empty"]
    cols = ", ".join(d.prop(k) for k in keys)
    assert await store.query(merchant, f"SELECT {cols} FROM events WHERE distinct_id = 'd1'") == [
        ("héllo", "12", "1.5", "1000.0", "true", None, '{"a":[1,2]}', None, "dot", "")
    ]
    assert await store.query(
        merchant,
        f"SELECT {d.prop('sku')} AS sku, count(*) FROM events GROUP BY sku ORDER BY sku",
    ) == [("coffee", 1), ("tea", 2), (None, 1)]
    assert await store.query(
        merchant, f"SELECT count(*) FROM events WHERE {d.prop('i')} = '12'"
    ) == [(1,)]
    assert await store.query(
        merchant,
        f"SELECT {d.to_text('amount')}, {d.to_text(d.day(date(2026, 3, 2)))} FROM events"
        " WHERE distinct_id = 'd4'",
    ) == [("0", "2026-03-02")]


async def test_overrides_change_the_person(store: EventStore, merchant: str) -> None:
    await store.append(
        [
            ev(merchant, "d1", time=T0),
            ev(merchant, "d1"),
            ev(merchant, "d2", member_id="m1"),
            ev(merchant, "d3"),
        ]
    )
    events_sql = (
        "SELECT distinct_id, person, mem, count(*) FROM events "
        "GROUP BY distinct_id, person, mem ORDER BY distinct_id"
    )
    hours_sql = (
        "SELECT distinct_id, person, mem, sum(n) FROM hours "
        "GROUP BY distinct_id, person, mem ORDER BY distinct_id"
    )
    people = "SELECT count(DISTINCT person) FROM events"

    async def both() -> list[tuple[object, ...]]:
        rows = await store.query(merchant, events_sql)
        assert await store.query(merchant, hours_sql) == rows
        return rows

    assert await both() == [("d1", "d1", None, 2), ("d2", "m1", "m1", 1), ("d3", "d3", None, 1)]
    assert await store.query(merchant, people) == [(3,)]

    # d1 logs in as m1; d3 is linked to a person who is no member
    await store.add_overrides(
        [
            Override(merchant, "d1", "m1", "m1", T1),
            Override(merchant, "d3", "p3", None, T1),
        ]
    )
    assert await both() == [("d1", "m1", "m1", 2), ("d2", "m1", "m1", 1), ("d3", "p3", None, 1)]
    assert await store.query(merchant, people) == [(2,)]

    # the latest link wins, whatever order the links arrive in
    await store.add_overrides(
        [
            Override(merchant, "d1", "m7", "m7", T1 + timedelta(hours=1)),
            Override(merchant, "d1", "m0", "m0", T0),
        ]
    )
    assert (await both())[0] == ("d1", "m7", "m7", 2)
    await store.roll_up()
    assert (await both())[0] == ("d1", "m7", "m7", 2)
    # links of another merchant change nothing here
    await store.add_overrides([Override(merchant + "-b", "d1", "x", "x", T1 + timedelta(days=1))])
    assert (await both())[0] == ("d1", "m7", "m7", 2)


def _day_sums(source: str, dialect_local: str) -> str:
    if source == "events":
        counters = (
            "count(*) AS n, "
            "sum(CASE WHEN event = 'member.registered' THEN 1 ELSE 0 END) AS reg, "
            "sum(CASE WHEN event = 'order.paid' THEN 1 ELSE 0 END) AS paid, "
            "sum(CASE WHEN event = 'order.paid' THEN amount ELSE 0 END) AS gmv, "
            "sum(CASE WHEN event = 'order.refunded' THEN 1 ELSE 0 END) AS refunds, "
            "sum(CASE WHEN event = 'order.refunded' THEN amount ELSE 0 END) AS refunded"
        )
    else:  # the aggregates' own names as aliases: a column, not the alias, is meant inside
        counters = (
            "sum(n) AS n, sum(reg) AS reg, sum(paid) AS paid, sum(gmv) AS gmv, "
            "sum(refunds) AS refunds, sum(refunded) AS refunded"
        )
    return (
        f"SELECT {dialect_local} AS local_day, platform, person, mem, {counters} FROM {source} "
        "GROUP BY local_day, platform, person, mem ORDER BY local_day, platform, person, mem"
    )


async def test_hours_add_up_to_the_events(store: EventStore, merchant: str) -> None:
    d = store.dialect

    async def check() -> list[tuple[object, ...]]:
        raw = await store.query(merchant, _day_sums("events", d.local_date("time", SHANGHAI)))
        assert (
            await store.query(merchant, _day_sums("hours", d.local_date("hour", SHANGHAI))) == raw
        )
        return raw

    await store.append(
        [
            ev(merchant, "d1", time=T0 - timedelta(hours=3)),
            ev(merchant, "d1", event="member.registered", member_id="m1", time=T0),
            ev(merchant, "d1", event="order.paid", member_id="m1", amount=1800, time=T0),
            ev(merchant, "d2", event="order.paid", member_id="m2", amount=2500, platform="alipay"),
            ev(
                merchant,
                "d2",
                event="order.refunded",
                member_id="m2",
                amount=500,
                platform="alipay",
            ),
            ev(merchant, "d3", time=T1 + timedelta(minutes=30), platform="app"),
        ]
    )
    first = await check()
    assert first == [
        (date(2026, 3, 1), "wechat", "d1", None, 1, 0, 0, 0, 0, 0),  # before signing up
        (date(2026, 3, 1), "wechat", "m1", "m1", 2, 1, 1, 1800, 0, 0),
        (date(2026, 3, 2), "alipay", "m2", "m2", 2, 0, 1, 2500, 1, 500),
        (date(2026, 3, 2), "app", "d3", None, 1, 0, 0, 0, 0, 0),
    ]
    totals = "SELECT sum(n), sum(reg), sum(paid), sum(gmv), sum(refunds), sum(refunded) FROM hours"
    assert await store.query(merchant, totals) == [(6, 1, 2, 4300, 1, 500)]
    # `n` in WHERE is the column, not the alias of the same name
    assert await store.query(
        merchant,
        "SELECT platform, sum(gmv) AS gmv FROM hours WHERE gmv > 0 GROUP BY platform "
        "ORDER BY platform",
    ) == [("alipay", 2500), ("wechat", 1800)]
    await store.roll_up()
    assert await check() == first
    await store.append(
        [
            ev(merchant, "d3", event="order.paid", amount=900, platform="app"),
            ev(merchant, "d4", time=T0),
        ]
    )
    await check()
    assert await store.query(merchant, totals) == [(8, 1, 3, 5200, 1, 500)]
    await store.roll_up()
    await store.compact()
    await check()
    assert await store.query(merchant, totals) == [(8, 1, 3, 5200, 1, 500)]


async def test_keyed_appends_write_once(store: EventStore, merchant: str) -> None:
    batch = [ev(merchant, "d1"), ev(merchant, "d2", event="order.paid", amount=100)]
    assert await store.append(batch, key="outbox-1") == 2
    assert await store.append(batch, key="outbox-1") == 0  # flushed again after a crash
    assert await store.append([ev(merchant, "d3")], key="outbox-1") == 0
    assert await store.append(to_arrow([ev(merchant, "d4")]), key="outbox-2") == 1
    assert await store.append(to_arrow([ev(merchant, "d5")]), key="outbox-2") == 0
    assert await store.count(merchant) == 3
    assert await store.query(merchant, "SELECT sum(n), sum(gmv) FROM hours") == [(3, 100)]
    # a key is the merchant's own
    assert await store.append([ev(merchant + "-b", "d1")], key="outbox-1") == 1
    assert await store.append([], key="outbox-3") == 0


async def test_duplicate_uuids_are_counted_once_after_compaction(
    store: EventStore, merchant: str
) -> None:
    """The common guarantee: after `compact()` each uuid is one event, in `events` and in
    `hours` (rolled up after). ClickHouse already drops a stored uuid at `append`; DuckDB
    keeps the copies until its compaction merges the segments (COMPACT_AT of them)."""
    dup = ev(merchant, "d1", event="order.paid", amount=700)
    retried = replace(dup, received_at=dup.received_at + timedelta(minutes=5))
    segments = [[dup, retried]]  # a copy inside one batch
    segments += [[ev(merchant, f"d{i}"), retried] for i in range(2, COMPACT_AT + 1)]
    written = [await store.append(rows) for rows in segments]
    distinct = 1 + (COMPACT_AT - 1)
    copies = 1 + (COMPACT_AT - 1)
    if store.name == "clickhouse":
        assert written == [1] + [1] * (COMPACT_AT - 1)
        assert await store.count(merchant) == distinct
    else:
        assert sum(written) == distinct + copies
        assert await store.count(merchant) == distinct + copies
    await store.compact()
    d = store.dialect
    assert await store.count(merchant) == distinct
    assert await store.query(
        merchant,
        f"SELECT count(*) FROM events WHERE uuid = {d.lit(dup.uuid)} "
        f"AND received_at = {d.instant(dup.received_at)}",
    ) == [(1,)]  # the copy received first is kept
    await store.roll_up()
    assert await store.query(merchant, "SELECT sum(n), sum(paid), sum(gmv) FROM hours") == [
        (distinct, 1, 700)
    ]
    assert await store.query(merchant, "SELECT count(*), sum(amount) FROM events") == [
        (distinct, 700)
    ]


async def test_empty_aggregates_and_outer_joins(store: EventStore, merchant: str) -> None:
    await store.append(
        [ev(merchant, "d1"), ev(merchant, "d2", event="order.paid", amount=300, uuid="zz-paid")]
    )
    assert await store.query(
        merchant,
        "SELECT sum(amount), min(amount), max(distinct_id), avg(amount), count(*) FROM events "
        "WHERE event = 'nothing'",
    ) == [(None, None, None, None, 0)]
    assert await store.query(
        merchant,
        "SELECT e.distinct_id, p.uuid, coalesce(p.amount, -1) FROM events e "
        "LEFT JOIN (SELECT uuid, amount FROM events WHERE event = 'order.paid') p "
        "ON p.uuid = e.uuid ORDER BY e.distinct_id",
    ) == [("d1", None, -1), ("d2", "zz-paid", 300)]
    assert await store.query(merchant, "SELECT sum(gmv) FROM hours WHERE platform = 'nowhere'") == [
        (None,)
    ]


def test_clickhouse_dialect_spellings() -> None:
    d = ClickHouseDialect()
    assert d.lit("it's \\") == "'it\\'s \\\\'"
    assert d.day(date(2026, 3, 2)) == "toDate('2026-03-02')"
    shanghai = datetime(2026, 3, 2, 0, 0, 0, 5, tzinfo=ZoneInfo(SHANGHAI))
    assert d.instant(shanghai) == "toDateTime64('2026-03-01 16:00:00.000005', 6, 'UTC')"
    naive = datetime(2026, 3, 1, 16)  # noqa: DTZ001 - a naive instant is taken as UTC
    assert d.instant(naive) == "toDateTime64('2026-03-01 16:00:00.000000', 6, 'UTC')"
    assert d.local_date("time", SHANGHAI) == "toDate(time, 'Asia/Shanghai')"
    assert d.seconds(30) == "toIntervalSecond(30)"
    assert d.arg_max("a", "b") == "argMax(a, b)"


async def test_clickhouse_returns_python_types(
    chdb_store: ClickHouseEventStore, merchant: str
) -> None:
    await chdb_store.append([ev(merchant, "d1", time=T0, amount=5)])
    d = chdb_store.dialect
    [row] = await chdb_store.query(
        merchant,
        f"SELECT time, received_at, {d.local_date('time', SHANGHAI)}, member_id, amount, "
        f"count(*) OVER (), {d.prop('x')}, event, platform FROM events",
    )
    assert row == (
        T0,
        T0 + timedelta(seconds=1),
        date(2026, 3, 1),
        None,
        5,
        1,
        None,
        "page.view",
        "wechat",
    )
    assert row[0].utcoffset() == timedelta(0)
    assert [type(v) for v in row[4:6]] == [int, int]
    [(hour,)] = await chdb_store.query(merchant, "SELECT hour FROM hours")
    assert hour == datetime(2026, 3, 1, 15, tzinfo=UTC)
    assert hour.tzinfo is not None
    [(shifted,)] = await chdb_store.query(
        merchant, "SELECT toTimeZone(time, 'Asia/Shanghai') FROM events"
    )
    assert shifted == T0 and shifted.tzinfo is UTC


async def test_chdb_engine_is_shared_per_path(
    chdb_store: ClickHouseEventStore, chdb_path: Path, merchant: str, tmp_path: Path
) -> None:
    again = ClickHouseEventStore.from_url(f"chdb://{chdb_path}", tmp_path)
    await again.append([ev(merchant, "d1")])
    assert await chdb_store.count(merchant) == 1
    with pytest.raises(RuntimeError, match="one engine per process"):
        ClickHouseEventStore.from_url(f"chdb://{tmp_path / 'elsewhere'}", tmp_path)
    await again.close()
    await again.close()
    assert await chdb_store.count(merchant) == 1  # the engine stays open for the other store
    with pytest.raises(ValueError, match="not a merchant id"):
        await chdb_store.query("../etc", "SELECT 1")


async def test_clickhouse_looks_up_dense_ranges_by_uuid(
    chdb_store: ClickHouseEventStore, merchant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clickhouse, "RANGE_FETCH", 0)  # every range counts as dense
    monkeypatch.setattr(clickhouse, "LOOKUP_CHUNK", 2)
    first = [ev(merchant, f"d{i}", time=T1 + timedelta(seconds=i)) for i in range(5)]
    assert await chdb_store.append(first) == 5
    again = [*first[1:4], ev(merchant, "d9", time=T1 + timedelta(seconds=2))]
    assert await chdb_store.append(again) == 1
    assert await chdb_store.count(merchant) == 6


async def test_concurrent_appends_and_queries(store: EventStore, merchant: str) -> None:
    batches = [[ev(merchant, f"d{b}-{i}") for i in range(20)] for b in range(7)]
    results = await asyncio.gather(
        *(store.append(rows) for rows in batches[:6]),
        *(store.query(merchant, "SELECT count(*) FROM events") for _ in range(6)),
        store.append(batches[6], key="same"),
        store.append(batches[6], key="same"),
    )
    assert results[:6] == [20] * 6
    assert sorted(results[-2:]) == [0, 20]  # type: ignore[type-var]
    assert await store.count(merchant) == 140
    assert await store.query(merchant, "SELECT sum(n) FROM hours") == [(140,)]


def test_server_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[dict[str, object]] = []

    def get_client(**kw: object) -> object:
        seen.append(kw)
        return object()

    monkeypatch.setattr("clickhouse_connect.get_client", get_client)
    store = ClickHouseEventStore.from_url(
        "clickhouses://ana%40shop:p%2Fss@ch.internal:9440/events_prod", tmp_path
    )
    assert store.database == "events_prod"
    assert seen == []  # no connection before the first use
    store._engine._get()
    assert seen == [
        {
            "host": "ch.internal",
            "port": 9440,
            "username": "ana@shop",
            "password": "p/ss",
            "secure": True,
            "autogenerate_session_id": False,
            "tz_mode": "aware",
        }
    ]
    plain = ClickHouseEventStore.from_url("clickhouse://ch", tmp_path)
    plain._engine._get()
    assert plain.database == "growthloop"
    assert seen[-1]["port"] == 8123 and seen[-1]["secure"] is False
    with pytest.raises(ValueError, match="not a database name"):
        ClickHouseEventStore.from_url("clickhouse://ch/bad-name", tmp_path)


async def test_retention_keeps_old_totals_without_people(store: EventStore, merchant: str) -> None:
    """`expire`: raw events before the cut are gone; their hourly totals stay, with no
    distinct id or member left in them; newer events are untouched, tail or rolled up."""
    cut = T1 - timedelta(days=1)
    old = [
        ev(
            merchant,
            f"old{i}",
            event="order.paid",
            member_id=f"m{i}",
            amount=100,
            time=cut - timedelta(days=3, hours=i),
        )
        for i in range(4)
    ]
    await store.append(old)
    await store.roll_up()
    await store.append([ev(merchant, "old9", time=cut - timedelta(hours=2))])  # in the tail
    fresh = [ev(merchant, "new1", event="order.paid", member_id="m1", amount=700)]
    await store.append(fresh)
    totals = "SELECT sum(n), sum(paid), sum(gmv) FROM hours"
    before = await store.query(merchant, totals)
    assert merchant in await store.merchants()
    counts = await store.expire(merchant, cut)
    assert counts["events"] == 5
    assert await store.query(merchant, "SELECT distinct_id FROM events") == [("new1",)]
    await store.roll_up()
    assert await store.query(merchant, totals) == before
    people = await store.query(
        merchant,
        f"SELECT DISTINCT distinct_id, mem FROM hours WHERE hour < {store.dialect.instant(cut)}",
    )
    assert people == [("expired", None)]
    # Again: nothing more to do.
    assert (await store.expire(merchant, cut))["events"] == 0
    assert await store.query(merchant, totals) == before
