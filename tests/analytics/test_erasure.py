"""Account deletion in analytics: the event stores forget a person for good while every
aggregate figure stays the same, and the database side hands over the person's ids.

Both stores get the same history: a member on their platform id and the member id (their
business events), an anonymous device later linked to them, a distinctive string planted
in their properties, events in two months, part rolled up and part in the tail; another
member and an anonymous visitor beside them, one of whose events names the member (a
sharer id). After the erasure no row of events, hours or links holds the person's ids or
the planted string, the totals are unchanged, and the others' events are as they were. On
DuckDB every file under the store's root is read too: raw bytes and every string value of
every Parquet file (they are zstd-compressed: a byte scan alone proves nothing).

chdb hosts one engine per process: the ClickHouse store is opened once for this module
(its own directory, closed at the module's end) and each test writes under its own
merchant id.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, or_, select

from growthloop.analytics.backends.base import EventStore
from growthloop.analytics.backends.clickhouse import ClickHouseEventStore
from growthloop.analytics.backends.duckdb import DuckDBEventStore
from growthloop.analytics.models import AnalyticsIdentity, AnalyticsOutbox
from growthloop.analytics.privacy import HANDLER, erase_events
from growthloop.analytics.rows import EventRow, Override
from growthloop.analytics.tasks import flush_outbox
from growthloop.core.privacy import Erasure
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, make_shop

PLANT = "PLANT-7f3a"
MEMBER = "01JERASEDMEMBER0000000000A"
CODE = "code-erase-u1"  # the member's platform id (a dev login code)
DEVICE = "device-erase-9"  # anonymous, linked to the member by an identify call
OTHER = "01JOTHERMEMBER00000000000B"
OTHER_CODE = "code-other-u2"
VISITOR = "device-visitor-3"
PSEUDONYM = "erased-0123456789abcdef"
T = datetime(2026, 2, 27, 10, 0, tzinfo=UTC)  # Friday; the history runs into March
_seq = itertools.count(1)


def ev(
    merchant_id: str,
    distinct_id: str,
    at: datetime,
    *,
    event: str = "page.view",
    member_id: str | None = None,
    amount: int = 0,
    share_code: str | None = None,
    properties: Mapping[str, object] | None = None,
    platform: str = "wechat",
) -> EventRow:
    return EventRow(
        merchant_id=merchant_id,
        uuid=f"u{next(_seq):08d}",
        event=event,
        distinct_id=distinct_id,
        member_id=member_id,
        time=at,
        received_at=at + timedelta(seconds=1),
        platform=platform,
        page="/pages/menu",
        share_code=share_code,
        channel="poster",
        amount=amount,
        properties=json.dumps(dict(properties or {}), ensure_ascii=False),
    )


def history(m: str, start: datetime) -> tuple[list[EventRow], list[EventRow]]:
    """(the person's events, everyone else's) of one batch starting at `start`."""
    mine = [
        ev(m, CODE, start, member_id=MEMBER, properties={"note": PLANT, "$ip": "10.1.2.3"}),
        ev(m, CODE, start + timedelta(minutes=5), member_id=MEMBER, share_code="SHR12345"),
        ev(m, DEVICE, start - timedelta(hours=1), properties={"ref": PLANT}, platform="app"),
        ev(m, DEVICE, start + timedelta(hours=2), properties={"q": "奶茶"}, platform="app"),
        ev(m, MEMBER, start + timedelta(minutes=9), event="order.paid", member_id=MEMBER,
           amount=3200, properties={"order_id": "o1", "payable": 3200}, platform="server"),
        ev(m, MEMBER, start + timedelta(days=1), event="order.paid", member_id=MEMBER,
           amount=1800, properties={"order_id": "o2"}, platform="server"),
    ]  # fmt: skip
    others = [
        ev(m, OTHER_CODE, start, member_id=OTHER, properties={"note": "regular"}),
        ev(m, OTHER, start + timedelta(minutes=20), event="order.paid", member_id=OTHER,
           amount=2500, platform="server"),
        ev(m, VISITOR, start + timedelta(hours=1)),
        ev(m, VISITOR, start + timedelta(days=1, hours=3)),
    ]  # fmt: skip
    return mine, others


@pytest.fixture(scope="module")
async def chdb_store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EventStore]:
    path = tmp_path_factory.mktemp("chdb-erasure")
    store = ClickHouseEventStore.from_url(f"chdb://{path}", path)
    yield store
    await store.close()


@pytest.fixture(params=["duckdb", "clickhouse"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, chdb_store: EventStore
) -> AsyncIterator[EventStore]:
    if request.param == "clickhouse":
        yield chdb_store
        return
    duck = DuckDBEventStore(tmp_path / "events", threads=2)
    yield duck
    await duck.close()


@pytest.fixture
def merchant(request: pytest.FixtureRequest) -> str:
    return "e" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:20]


def _in(values: set[str], lit: Any) -> str:
    return "(" + ", ".join(lit(v) for v in sorted(values)) + ")"


async def _totals(store: EventStore, m: str) -> dict[str, Any]:
    d = store.dialect
    day = d.to_text(d.local_date("hour", "Asia/Shanghai"))
    return {
        "events": await store.query(
            m,
            "SELECT count(*), sum(amount), count(DISTINCT person), count(DISTINCT mem) FROM events",
        ),
        "by_day": await store.query(
            m,
            f"SELECT {day} AS day, sum(n), sum(paid), sum(gmv), count(DISTINCT person) "
            "FROM hours GROUP BY day ORDER BY day",
        ),
        "by_platform": await store.query(
            m,
            "SELECT platform, count(*), sum(amount) FROM events "
            "GROUP BY platform ORDER BY platform",
        ),
    }


async def _others(store: EventStore, m: str, uuids: list[str]) -> list[tuple[Any, ...]]:
    d = store.dialect
    return await store.query(
        m,
        "SELECT uuid, event, distinct_id, member_id, properties, share_code, amount, page, "
        f"channel, platform, person, mem, {d.epoch_us('time')} FROM events "
        f"WHERE uuid IN {_in(set(uuids), d.lit)} ORDER BY uuid",
    )


async def _traces(store: EventStore, m: str, ids: set[str]) -> dict[str, int]:
    lit = store.dialect.lit
    who = _in(ids, lit)
    ident = f"distinct_id IN {who} OR member_id IN {who} OR person IN {who} OR mem IN {who}"
    found = {
        "events": await store.query(m, f"SELECT count(*) FROM events WHERE {ident}"),
        "hours": await store.query(m, f"SELECT count(*) FROM hours WHERE {ident}"),
        "links": await store.query(
            m,
            f"SELECT count(*) FROM ov WHERE distinct_id IN {who} OR person_id IN {who} "
            f"OR ov_member IN {who}",
        ),
        "planted": await store.query(
            m, f"SELECT count(*) FROM events WHERE properties LIKE {lit('%' + PLANT + '%')}"
        ),
    }
    mentions = " OR ".join(f"properties LIKE {lit('%' + i + '%')}" for i in sorted(ids))
    found["mentioned"] = await store.query(m, f"SELECT count(*) FROM events WHERE {mentions}")
    return {k: int(v[0][0]) for k, v in found.items()}


async def test_erasure_forgets_the_person_and_keeps_every_figure(
    store: EventStore, merchant: str
) -> None:
    m = merchant
    first_mine, first_others = history(m, T)
    mention = ev(m, VISITOR, T + timedelta(minutes=30), event="share.opened",
                 properties={"sharer_id": MEMBER, "code": "SHR12345"})  # fmt: skip
    second_mine, second_others = history(m, T + timedelta(days=3))  # into March: the tail
    mine = first_mine + second_mine
    others = first_others + second_others
    await store.append([*first_mine, *first_others, mention])
    linked_at = T + timedelta(hours=3)
    await store.add_overrides(
        [
            Override(m, DEVICE, MEMBER, MEMBER, linked_at),
            Override(m, CODE, MEMBER, MEMBER, linked_at),
            Override(m, OTHER_CODE, OTHER, OTHER, linked_at),
        ]
    )
    await store.roll_up()
    await store.append([*second_mine, *second_others])
    # Someone else's store is never touched.
    elsewhere = m + "-x"
    await store.append([ev(elsewhere, CODE, T, member_id=MEMBER, properties={"n": PLANT})])
    if isinstance(store, DuckDBEventStore):
        # A piece a writer staged and never renamed (it died): it goes too.
        stale = store.root / m / "seg" / ".000000000001.parquet.deadbeef.tmp"
        stale.write_bytes(f"{CODE} {PLANT}".encode())

    ids = {MEMBER, CODE, DEVICE}
    before = await _totals(store, m)
    assert before["events"][0][0] == len(mine) + len(others) + 1
    other_uuids = [e.uuid for e in others]
    untouched = await _others(store, m, other_uuids)
    assert len(untouched) == len(others)
    assert (await _traces(store, m, ids))["events"] == len(mine)

    # The database hands over the member id and platform id; the device is found by its link.
    counts = await store.erase(m, {CODE}, MEMBER, PSEUDONYM)
    assert counts["events"] == len(mine)
    assert counts["mentions"] == 1
    assert counts["links"] == 2
    assert counts["hours"] >= 4

    assert await _traces(store, m, ids) == {
        "events": 0,
        "hours": 0,
        "links": 0,
        "planted": 0,
        "mentioned": 0,
    }
    after = await _totals(store, m)
    assert after["by_day"] == before["by_day"]
    assert after["by_platform"] == before["by_platform"]
    n, amount, people, members = before["events"][0]
    # One anonymous visitor now (the member and their device were one person already).
    assert after["events"] == [(n, amount, people, members - 1)]
    assert await _others(store, m, other_uuids) == untouched
    lit = store.dialect.lit
    rows = await store.query(
        m,
        "SELECT distinct_id, member_id, properties, share_code, page, channel, person, mem "
        f"FROM events WHERE distinct_id = {lit(PSEUDONYM)}",
    )
    assert len(rows) == len(mine)
    assert {r[1:] for r in rows} == {(None, "{}", None, "/pages/menu", "poster", PSEUDONYM, None)}
    [(props,)] = await store.query(
        m, f"SELECT properties FROM events WHERE uuid = {lit(mention.uuid)}"
    )
    assert json.loads(props) == {"sharer_id": PSEUDONYM, "code": "SHR12345"}
    assert await store.query(elsewhere, "SELECT count(*) FROM events WHERE mem IS NOT NULL") == [
        (1,)
    ]

    # Maintenance afterwards keeps agreeing: the tail rolls up under the pseudonym.
    await store.roll_up()
    await store.compact()
    assert await _totals(store, m) == after
    assert set((await _traces(store, m, ids)).values()) == {0}

    if isinstance(store, DuckDBEventStore):
        assert counts["temporary"] == 1 and not stale.exists()
        _scan_files(store.root / m, [PLANT, MEMBER, CODE, DEVICE])
        assert not _leftovers(store.root)
    if isinstance(store, ClickHouseEventStore):
        # No id went into a statement's text (mutations keep theirs), none waits in `erasing`.
        commands = store._engine.rows(
            "SELECT command FROM system.mutations WHERE database = 'growthloop'"
        )
        assert commands
        for (command,) in commands:
            assert not any(s in command for s in (PLANT, MEMBER, CODE, DEVICE)), command
        assert store._engine.rows("SELECT count() FROM growthloop.erasing") == [(0,)]


def _scan_files(root: Path, needles: list[str]) -> None:
    """No byte of the needles in any file, nor in any string of any Parquet file."""
    encoded = [n.encode() for n in needles]
    files = [Path(d) / f for d, _, names in os.walk(root) for f in names]
    assert any(f.suffix == ".parquet" for f in files)
    for path in files:
        data = path.read_bytes()
        assert not any(n in data for n in encoded), path
        if path.suffix != ".parquet":
            continue
        table = pq.read_table(path)
        for column in table.column_names:
            if not pa.types.is_string(table.schema.field(column).type):
                continue
            for value in table[column].to_pylist():
                assert value is None or not any(n in value for n in needles), (path, value)


def _leftovers(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, names in os.walk(root) for f in names if f.endswith(".tmp")]


async def test_an_erasure_without_events_or_links_changes_nothing(
    store: EventStore, merchant: str
) -> None:
    await store.append([ev(merchant, VISITOR, T)])
    counts = await store.erase(merchant, {"nobody-here-1"}, "01JNOBODY00000000000000000", PSEUDONYM)
    assert counts["events"] == counts["links"] == counts["hours"] == 0
    assert await store.query(
        merchant, "SELECT count(*), count(DISTINCT distinct_id) FROM events"
    ) == [(1, 1)]
    never = merchant + "-never"  # a merchant with no events at all
    assert (await store.erase(never, set(), MEMBER, PSEUDONYM))["events"] == 0


# ---- the database side, through the app ------------------------------------------------


async def _send(shop: Shop, events: list[dict[str, Any]]) -> None:
    r = await shop.client.post(
        "/v1/ingest/batch", json={"events": events}, headers={"X-Ingest-Key": shop.ingest_key}
    )
    assert r.status_code == 200, r.text
    assert not r.json()["rejected"], r.text


async def _member_id(shop: Shop, headers: dict[str, str]) -> str:
    r = await shop.client.get("/v1/me", headers=headers)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def test_the_handler_exports_and_erases_the_person(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    bob = await shop.member("bob-erase-code")
    carol = await shop.member("carol-keep-code")
    bob_id, carol_id = await _member_id(shop, bob), await _member_id(shop, carol)
    await _send(
        shop,
        [
            {"event": "view", "distinct_id": "bob-erase-code", "uuid": "b1",
             "properties": {"note": PLANT}},
            {"event": "view", "distinct_id": "bob-phone-device", "uuid": "b2"},
            {"event": "$identify", "distinct_id": "bob-erase-code", "uuid": "b3",
             "properties": {"$anon_distinct_id": "bob-phone-device"}},
            {"event": "view", "distinct_id": "bob-phone-device", "uuid": "b4"},
            {"event": "view", "distinct_id": "carol-keep-code", "uuid": "c1"},
        ],
    )  # fmt: skip
    await flush_outbox(rt.db, rt.analytics)
    store = rt.analytics.store
    m = shop.merchant_id
    async with rt.db.unit_of_work() as uow:
        # A waiting event of Carol's that names Bob (she opened his share).
        uow.session.add(
            AnalyticsOutbox(
                merchant_id=m, event="share.opened", member_id=carol_id, time=rt.clock.now(),
                platform="wechat", amount=0, properties={"sharer_id": bob_id, "n": 1},
            )
        )  # fmt: skip
    carol_before = await store.query(
        m,
        f"SELECT uuid, distinct_id, mem, properties FROM events WHERE mem = '{carol_id}' "
        "ORDER BY uuid",
    )
    assert carol_before

    async with rt.db.unit_of_work() as uow:
        exported = await HANDLER.export(uow.session, m, bob_id)
    ids = {x["distinct_id"] for x in exported["distinct_ids"]}
    assert {bob_id, "bob-erase-code", "bob-phone-device"} <= ids
    assert carol_id not in ids and "carol-keep-code" not in ids
    views = [e for e in exported["events"] if e["event"] == "view"]
    assert len(views) == 3  # the device's view before the link counts as Bob's too
    assert {"note": PLANT} in [e["properties"] for e in views]
    assert all(datetime.fromisoformat(e["time"]).tzinfo is not None for e in exported["events"])
    assert any(e["event"] == "member.login" or e["event"] == "member.registered"
               for e in exported["events"])  # fmt: skip

    erasure = Erasure(m, bob_id, rt.clock.now())
    async with rt.db.unit_of_work() as uow:
        counts = await HANDLER.erase(uow.session, erasure)
    assert {bob_id, "bob-erase-code", "bob-phone-device"} <= erasure.identifiers
    assert counts["analytics_identities"] >= 3 and counts["outbox_mentions_stripped"] == 1
    async with rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        ai = AnalyticsIdentity
        left = await s.scalar(
            select(func.count())
            .select_from(ai)
            .where(
                ai.merchant_id == m,
                or_(
                    ai.distinct_id.in_(erasure.identifiers),
                    ai.person_id.in_(erasure.identifiers),
                    ai.member_id == bob_id,
                ),
            )
        )
        assert left == 0
        assert await s.scalar(
            select(func.count())
            .select_from(ai)
            .where(ai.merchant_id == m, ai.member_id == carol_id)
        )
        o = AnalyticsOutbox
        waiting = list(await s.execute(select(o.member_id, o.properties).where(o.merchant_id == m)))
        assert waiting == [(carol_id, {"sharer_id": "erased", "n": 1})]

    stored = await erase_events(rt.analytics, erasure)
    for done in erasure.when_done:  # what carry_out runs once its transaction has ended
        await done()
    assert not rt.analytics.gate.closing
    assert stored["events"] >= 4
    lit = store.dialect.lit
    gone = ", ".join(lit(i) for i in sorted(erasure.identifiers))
    person = f"mem = {lit(bob_id)} OR person = {lit(bob_id)} OR distinct_id IN ({gone})"
    assert await store.query(m, f"SELECT count(*) FROM events WHERE {person}") == [(0,)]
    assert await store.query(
        m, f"SELECT count(*) FROM events WHERE properties LIKE '%{PLANT}%'"
    ) == [(0,)]
    assert (
        await store.query(
            m,
            f"SELECT uuid, distinct_id, mem, properties FROM events WHERE mem = '{carol_id}' "
            "ORDER BY uuid",
        )
        == carol_before
    )
    async with rt.db.unit_of_work() as uow:
        again = await HANDLER.export(uow.session, m, bob_id)
    assert again["distinct_ids"] == [] and again["events"] == []
