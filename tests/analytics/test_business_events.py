"""Domain events reach the event store with no client SDK, and the overview counts them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from growthloop.analytics.events import BUSINESS_EVENTS
from growthloop.analytics.service import record_business_events, record_domain_event
from growthloop.analytics.tasks import flush_outbox, maintain_store
from growthloop.core.clock import FrozenClock
from growthloop.core.events import DomainEvent, EventBus
from growthloop.core.runtime import Runtime
from growthloop.orders.importer import import_orders_csv
from tests.helpers import make_shop


async def _flush(rt: Runtime) -> int:
    return await flush_outbox(rt.db, rt.analytics)


async def test_orders_and_sign_ups_land_in_the_store(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1800)
    alice = await shop.member("alice")
    bob = await shop.member("bob")
    await shop.paid_order(alice, product["id"])
    await shop.paid_order(alice, product["id"])
    await shop.paid_order(bob, product["id"])
    assert await _flush(rt) > 0
    assert await _flush(rt) == 0

    rows = await rt.analytics.store.query(
        shop.merchant_id,
        "SELECT event, count(*), count(DISTINCT person), sum(amount) FROM events "
        "GROUP BY event ORDER BY event",
    )
    counts = {r[0]: (r[1], r[2], r[3]) for r in rows}
    assert counts["member.registered"][:2] == (2, 2)
    assert counts["order.paid"] == (3, 2, 3 * 1800)
    assert counts["member.login"][:2] == (2, 2)

    # An order's events name the end its member arrived from (read when flushed).
    rows = await rt.analytics.store.query(
        shop.merchant_id,
        "SELECT DISTINCT event, platform FROM events WHERE event LIKE 'order.%' ORDER BY 1",
    )
    assert [tuple(r) for r in rows] == [("order.created", "dev"), ("order.paid", "dev")]

    today = clock.today("Asia/Shanghai").isoformat()
    r = await client.get(
        f"/v1/admin/analytics/overview?from={today}&to={today}", headers=shop.admin
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["active_members"] == 2
    assert body["new_members"] == 2
    assert body["orders"] == 3
    assert body["gmv"] == 5400
    assert body["paying_members"] == 2
    assert body["aov"] == 1800
    assert body["repurchase_rate"] == 0.5
    assert body["conversion_rate"] == 1.0
    assert body["by_day"][0]["orders"] == 3

    # The same answer from the hourly aggregates as from the raw tail.
    await maintain_store(rt.analytics, force=True)
    again = await client.get(
        f"/v1/admin/analytics/overview?from={today}&to={today}", headers=shop.admin
    )
    assert again.json() == body

    clock.advance(days=1)
    await shop.relogin()
    tomorrow = clock.today("Asia/Shanghai").isoformat()
    r = await client.get(
        f"/v1/admin/analytics/overview?from={today}&to={tomorrow}", headers=shop.admin
    )
    assert [d["orders"] for d in r.json()["by_day"]] == [3, 0]


async def test_imported_history_is_on_the_days_it_happened(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    csv = tmp_path / "history.csv"
    csv.write_text(
        "member_external_id,ordered_at,amount\n"
        "alice,2026-01-05T23:30:00+08:00,3000\n"  # 15:30 UTC: still the 5th in Shanghai
        "bob,2026-01-06T00:10:00+08:00,1800\n",  # 16:10 UTC on the 5th: the 6th locally
        encoding="utf-8",
    )
    await import_orders_csv(rt, shop.merchant_id, csv)
    await _flush(rt)
    r = await client.get(
        "/v1/admin/analytics/overview?from=2026-01-05&to=2026-01-06", headers=shop.admin
    )
    assert [(d["orders"], d["gmv"]) for d in r.json()["by_day"]] == [(1, 3000), (1, 1800)]
    r = await client.get(
        "/v1/admin/analytics/platforms?from=2026-01-05&to=2026-01-06", headers=shop.admin
    )
    assert [p["platform"] for p in r.json()["platforms"]] == ["import"]


def test_business_events_are_subscribed_by_class_and_checked_against_the_catalogue() -> None:
    """The wiring hands analytics the classes of its business events: each is subscribed to
    `record_domain_event`; a class missing, unknown to the catalogue or given twice is an
    error at start-up, not a dashboard missing an event."""
    kinds: list[type[DomainEvent]] = [
        type(f"Event{i}", (DomainEvent,), {"name": name}) for i, name in enumerate(BUSINESS_EVENTS)
    ]
    bus = EventBus()
    record_business_events(bus, kinds)
    for kind in kinds:
        assert bus._handlers[kind] == [record_domain_event]

    class Stranger(DomainEvent):
        name: ClassVar[str] = "order.shipped_to_mars"

    for wrong, complaint in (
        (kinds[1:], f"without a class [{next(iter(BUSINESS_EVENTS))!r}]"),
        ([*kinds, Stranger], "not business events ['order.shipped_to_mars']"),
        ([*kinds, kinds[0]], f"twice [{next(iter(BUSINESS_EVENTS))!r}]"),
    ):
        with pytest.raises(ValueError, match=re.escape(complaint)):
            record_business_events(EventBus(), wrong)
