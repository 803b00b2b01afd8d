"""The dashboard's queries give the same answers on the DuckDB and the ClickHouse store."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from growthloop.analytics import queries, service
from growthloop.analytics.backends.base import EventStore
from growthloop.analytics.backends.clickhouse import ClickHouseEventStore
from growthloop.analytics.backends.duckdb import DuckDBEventStore
from growthloop.analytics.rows import EventRow, Override

MERCHANT = "parity"
SPAN = queries.Span(date(2026, 3, 2), date(2026, 3, 15), "Asia/Shanghai")
EVENTS = ("page_view", "add_to_cart", "order.paid", "member.registered", "order.refunded")


def _history(seed: int = 7) -> tuple[list[EventRow], list[Override]]:
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai, the eve of the span
    rows: list[EventRow] = []
    for person in range(120):
        member = f"m{person}" if person % 3 else None
        distinct = member or f"device-{person}"
        at = start + timedelta(hours=rng.uniform(0, 24 * 16))
        for n in range(rng.randint(1, 25)):
            event = rng.choices(EVENTS, [10, 4, 2, 1, 0.3])[0]
            at += timedelta(minutes=rng.expovariate(1 / 300))
            rows.append(
                EventRow(
                    merchant_id=MERCHANT,
                    uuid=f"{person}-{n}",
                    event=event,
                    distinct_id=distinct,
                    member_id=member,
                    time=at,
                    received_at=at,
                    platform=rng.choice(["wechat", "alipay", "douyin", "app"]),
                    page=rng.choice([None, "pages/menu/index"]),
                    share_code=rng.choice([None, None, "s1", "s2"]),
                    channel=rng.choice([None, "ad", "search"]),
                    amount=rng.randrange(500, 5000) if event.startswith("order.") else 0,
                    properties=json.dumps({"size": rng.choice(["中杯", "大杯"]), "n": n}),
                )
            )
    rng.shuffle(rows)
    link_at = start + timedelta(days=3)
    links = [
        Override(MERCHANT, f"device-{p}", f"m{p + 1}", f"m{p + 1}", link_at) for p in (0, 3, 6)
    ]
    return rows, links


@pytest.fixture(scope="module")
async def stores(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[EventStore]]:
    rows, links = _history()
    root: Path = tmp_path_factory.mktemp("parity")
    duck = DuckDBEventStore(root / "events", threads=2)
    click = ClickHouseEventStore.from_url(f"chdb://{root / 'clickhouse'}", root)
    for store in (duck, click):
        # In three appends, with a roll-up between: hourly aggregates and a raw tail.
        third = len(rows) // 3
        await store.append(rows[:third])
        await store.roll_up()
        await store.append(rows[third : 2 * third])
        await store.add_overrides(links)
        await store.append(rows[2 * third :])
    yield [duck, click]
    await duck.close()
    await click.close()


QUESTIONS: dict[str, Any] = {
    "overview": lambda s: queries.overview(s, MERCHANT, SPAN),
    "platforms": lambda s: queries.platforms(s, MERCHANT, SPAN),
    "trends": lambda s: queries.trends(
        s,
        MERCHANT,
        SPAN,
        event="page_view",
        math="people",
        interval="day",
        breakdown="size",
        where={"platform": ["wechat", "alipay"]},
    ),
    "weekly trends": lambda s: queries.trends(
        s,
        MERCHANT,
        SPAN,
        event="order.paid",
        math="count",
        interval="week",
        breakdown=None,
        where=None,
    ),
    "funnel": lambda s: queries.funnel(
        s,
        MERCHANT,
        SPAN,
        steps=[("page_view", None), ("add_to_cart", {"size": "大杯"}), ("order.paid", None)],
        window_hours=48,
        breakdown="platform",
        list_dropped=True,
    ),
    "retention": lambda s: queries.retention(
        s,
        MERCHANT,
        SPAN,
        start_event="page_view",
        return_event="order.paid",
        period="day",
        periods=7,
    ),
    "weekly retention": lambda s: queries.retention(
        s,
        MERCHANT,
        SPAN,
        start_event="page_view",
        return_event="page_view",
        period="week",
        periods=3,
    ),
    "first touch": lambda s: queries.attribution(
        s, MERCHANT, SPAN, by="channel", model="first_touch", lookback_days=7
    ),
    "last touch": lambda s: queries.attribution(
        s, MERCHANT, SPAN, by="share_code", model="last_touch", lookback_days=3
    ),
    "unknown events": lambda s: service.unknown_events(
        s, MERCHANT, ["page_view", "nope", "order.paid", "add_to_cart", "checkout", "nope"]
    ),
}


@pytest.mark.parametrize("question", list(QUESTIONS))
async def test_both_stores_answer_alike(stores: list[EventStore], question: str) -> None:
    duck, click = stores
    ask = QUESTIONS[question]
    expected = await ask(duck)
    assert await ask(click) == expected
    if question == "overview":
        assert expected["orders"] > 0 and expected["active_members"] > 0
    if question == "funnel":
        assert expected["steps"][2]["count"] > 0
    if question == "unknown events":
        assert expected == ["nope", "checkout"]
