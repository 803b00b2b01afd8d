"""Alert rules: thresholds and anomalies against the same weekday of four weeks, fired once
per period, delivered as a record and a signed webhook retried until answered."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from growthloop.analytics import alerts, tasks
from growthloop.analytics.rows import EventRow
from growthloop.core.clock import FrozenClock
from growthloop.core.ids import new_id
from growthloop.core.logs import JsonFormatter
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, assert_error, make_shop

# Tuesday 2026-03-24, 09:00 in Shanghai: "yesterday" is Monday the 23rd.
NOW = datetime(2026, 3, 24, 1, 0, tzinfo=UTC)


async def _orders_on(shop: Shop, local_day: datetime, count: int, amount: int = 1000) -> None:
    """`count` paid orders at noon (Shanghai) of a day, written straight to the store."""
    at = local_day + timedelta(hours=12)
    rows = [
        EventRow(
            merchant_id=shop.merchant_id,
            uuid=new_id(),
            event="order.paid",
            distinct_id=f"m{i}",
            member_id=f"m{i}",
            time=at + timedelta(minutes=i),
            received_at=at,
            platform="wechat",
            page=None,
            share_code=None,
            channel=None,
            amount=amount,
            properties="{}",
        )
        for i in range(count)
    ]
    await shop.rt.analytics.store.append(rows)


async def _rule(shop: Shop, **body: object) -> dict[str, object]:
    r = await shop.client.post("/v1/admin/analytics/alert-rules", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_anomaly_against_the_same_weekday_fires_once(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    clock.set(NOW)
    shop = await make_shop(client, rt)
    monday = datetime(2026, 3, 22, 16, 0, tzinfo=UTC)  # 00:00 Monday 23rd in Shanghai
    for weeks in range(1, 5):
        await _orders_on(shop, monday - timedelta(weeks=weeks), 10)
    await _orders_on(shop, monday - timedelta(days=1), 50)  # a busy Sunday: not the baseline
    await _orders_on(shop, monday, 2)
    delivered: list[httpx.Request] = []

    def hook(request: httpx.Request) -> httpx.Response:
        delivered.append(request)
        return httpx.Response(200 if len(delivered) > 1 else 503)

    rt.analytics.webhook_transport = httpx.MockTransport(hook)
    rule = await _rule(
        shop,
        name="订单骤降",
        metric="orders",
        kind="anomaly",
        direction="below",
        deviation_percent=50,
        webhook_url="https://hooks.example.com/alerts",
    )
    assert await tasks.evaluate_due(rt.db, rt.clock, rt.analytics) == 1
    rt.analytics.judged.clear()  # another worker, or a restart: the period's key holds
    assert await tasks.evaluate_due(rt.db, rt.clock, rt.analytics) == 0
    r = await client.get("/v1/admin/analytics/alerts", headers=shop.admin)
    [alert] = r.json()["items"]
    assert alert["value"] == 2 and alert["expected"] == 10.0
    assert alert["rule_id"] == rule["id"]
    assert alert["period_start"].startswith("2026-03-22T16:00:00")
    assert "-80%" in alert["message"]

    # Delivered after the commit; the first attempt fails (503), the retry succeeds.
    assert await tasks.deliver_webhooks(rt.db, rt.clock, rt.analytics) == 0
    assert len(delivered) == 1
    assert await tasks.deliver_webhooks(rt.db, rt.clock, rt.analytics) == 0  # backing off
    clock.advance(minutes=3)
    assert await tasks.deliver_webhooks(rt.db, rt.clock, rt.analytics) == 1
    request = delivered[-1]
    body = request.content
    expected_sig = hmac.new(str(rule["webhook_secret"]).encode(), body, hashlib.sha256)
    assert request.headers["X-Growthloop-Signature"] == "sha256=" + expected_sig.hexdigest()
    assert json.loads(body)["value"] == 2
    r = await client.get("/v1/admin/analytics/alerts", headers=shop.admin)
    assert r.json()["items"][0]["webhook_status"] == "sent"
    assert r.json()["items"][0]["webhook_attempts"] == 2


async def test_failed_deliveries_are_logged_by_id_until_given_up(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Each failed attempt is a log line with the rule, the attempt, the HTTP status and the
    next attempt (an error once given up); each sweep that did something says what; no
    line holds the webhook's address or its secret."""
    clock.set(NOW)
    shop = await make_shop(client, rt)
    await _orders_on(shop, datetime(2026, 3, 22, 16, 0, tzinfo=UTC), 3)
    answers: list[httpx.Response | Exception] = [httpx.Response(503), httpx.ConnectError("no")]

    def hook(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0) if answers else httpx.Response(500)
        if isinstance(answer, Exception):
            raise answer
        return answer

    rt.analytics.webhook_transport = httpx.MockTransport(hook)
    rule = await _rule(
        shop,
        name="少于5单",
        metric="orders",
        kind="threshold",
        threshold=5,
        webhook_url="https://hooks.example.com/alerts?token=s3cr3t-hook-token",
    )
    caplog.set_level(logging.INFO, logger="growthloop.analytics")
    assert await tasks.evaluate_due(rt.db, rt.clock, rt.analytics) == 1
    for _ in range(alerts.MAX_WEBHOOK_ATTEMPTS):
        assert await tasks.deliver_webhooks(rt.db, rt.clock, rt.analytics) == 0
        clock.advance(minutes=2**alerts.MAX_WEBHOOK_ATTEMPTS)
    assert await tasks.deliver_webhooks(rt.db, rt.clock, rt.analytics) == 0  # given up

    records = [r for r in caplog.records if r.name == "growthloop.analytics"]
    failures = [r for r in records if r.getMessage().startswith("alert webhook delivery failed")]
    assert [
        (r.levelno, r.__dict__["attempt"], r.__dict__["http_status"], r.__dict__["error"])
        for r in failures
    ] == [
        (logging.WARNING, 1, 503, "HTTP 503"),
        (logging.WARNING, 2, None, "ConnectError"),
        (logging.WARNING, 3, 500, "HTTP 500"),
        (logging.WARNING, 4, 500, "HTTP 500"),
        (logging.WARNING, 5, 500, "HTTP 500"),
        (logging.ERROR, 6, 500, "HTTP 500"),
    ]
    assert {r.__dict__["rule_id"] for r in failures} == {rule["id"]}
    assert failures[0].__dict__["next_attempt_at"] == NOW + timedelta(minutes=2)
    assert failures[-1].__dict__["next_attempt_at"] is None
    judged = [r for r in records if r.getMessage() == "alert rules judged"]
    assert [(r.__dict__["judged"], r.__dict__["fired"]) for r in judged] == [(1, 1)]
    sweeps = [r for r in records if r.getMessage() == "alert webhooks attempted"]
    assert [(r.__dict__["retrying"], r.__dict__["failed"]) for r in sweeps][-2:] == [
        (1, 0),
        (0, 1),
    ]
    lines = "\n".join(JsonFormatter().format(r) for r in records)
    assert "hooks.example.com" not in lines and "s3cr3t" not in lines
    assert str(rule["webhook_secret"]) not in lines
    r = await client.get("/v1/admin/analytics/alerts", headers=shop.admin)
    [alert] = r.json()["items"]
    assert (alert["webhook_status"], alert["webhook_attempts"]) == ("failed", 6)


async def test_thresholds_and_quiet_baselines(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    clock.set(NOW)
    shop = await make_shop(client, rt)
    monday = datetime(2026, 3, 22, 16, 0, tzinfo=UTC)
    await _orders_on(shop, monday, 3)
    low = await _rule(shop, name="少于5单", metric="orders", kind="threshold", threshold=5)
    high = await _rule(
        shop, name="GMV 高", metric="gmv", kind="threshold", direction="above", threshold=100_000
    )
    # No history at all: an anomaly rule stays quiet rather than fire on nothing.
    quiet = await _rule(
        shop, name="波动", metric="orders", kind="anomaly", direction="both", deviation_percent=20
    )
    fired = []
    for rule in (low, high, quiet):
        r = await client.post(
            f"/v1/admin/analytics/alert-rules/{rule['id']}/evaluate", headers=shop.admin
        )
        assert r.status_code == 200, r.text
        fired.append(r.json())
    assert fired[0]["value"] == 3 and "below 5" in fired[0]["message"]
    assert fired[1] is None and fired[2] is None
    assert fired[0]["webhook_status"] == "none"


async def test_hourly_rules_and_bad_rules(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    clock.set(NOW + timedelta(minutes=10))  # 09:10: the 08:00 hour is complete
    shop = await make_shop(client, rt)
    rule = await _rule(
        shop, name="一小时无访客", metric="visitors", period="hour", kind="threshold", threshold=1
    )
    r = await client.post(
        f"/v1/admin/analytics/alert-rules/{rule['id']}/evaluate", headers=shop.admin
    )
    assert r.json()["period_start"].startswith("2026-03-24T00:00:00")
    for bad in (
        {"name": "x", "metric": "orders", "kind": "threshold"},
        {"name": "x", "metric": "orders", "kind": "anomaly"},
        {"name": "x", "metric": "orders", "kind": "threshold", "threshold": 1, "direction": "both"},
        {"name": "x", "metric": "nope", "kind": "threshold", "threshold": 1},
        {
            "name": "x",
            "metric": "orders",
            "kind": "threshold",
            "threshold": 1,
            "webhook_url": "ftp://a",
        },
    ):
        r = await client.post("/v1/admin/analytics/alert-rules", json=bad, headers=shop.admin)
        assert_error(r, 422)
    analyst = await shop.staff("analyst")
    r = await client.post(
        "/v1/admin/analytics/alert-rules",
        json={"name": "x", "metric": "orders", "kind": "threshold", "threshold": 1},
        headers=analyst,
    )
    assert_error(r, 403)
    r = await client.delete(f"/v1/admin/analytics/alert-rules/{rule['id']}", headers=shop.admin)
    assert r.status_code == 204
    r = await client.get("/v1/admin/analytics/alert-rules", headers=shop.admin)
    assert r.json()["items"] == []


async def test_money_is_integer_fen_and_counts_stay_integers(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    clock.set(NOW)
    shop = await make_shop(client, rt)
    monday = datetime(2026, 3, 22, 16, 0, tzinfo=UTC)
    for weeks, (gmv, orders) in enumerate([(10_000, 2), (10_000, 2), (10_000, 2), (10_001, 3)]):
        await _orders_on(shop, monday - timedelta(weeks=weeks + 1), 1, amount=gmv)
        await _orders_on(shop, monday - timedelta(weeks=weeks + 1), orders - 1, amount=0)
    await _orders_on(shop, monday, 1, amount=258_000)
    await _orders_on(shop, monday, 9, amount=12)  # 108 fen more
    delivered: list[httpx.Request] = []

    def hook(request: httpx.Request) -> httpx.Response:
        delivered.append(request)
        return httpx.Response(200)

    rt.analytics.webhook_transport = httpx.MockTransport(hook)
    spike = await _rule(
        shop,
        name="GMV 暴涨",
        metric="gmv",
        kind="anomaly",
        direction="above",
        deviation_percent=50,
        webhook_url="https://hooks.example.com/alerts",
    )
    high = await _rule(
        shop, name="GMV 高", metric="gmv", kind="threshold", direction="above", threshold=100_000
    )
    busy = await _rule(
        shop,
        name="订单多",
        metric="orders",
        kind="anomaly",
        direction="above",
        deviation_percent=50,
    )
    answers = {}
    for rule in (spike, high, busy):
        r = await client.post(
            f"/v1/admin/analytics/alert-rules/{rule['id']}/evaluate", headers=shop.admin
        )
        assert r.status_code == 200, r.text
        answers[rule["name"]] = r
    # the mean of 10000, 10000, 10000 and 10001 fen, rounded to a fen; the value as sent
    spiked = answers["GMV 暴涨"].json()
    assert (spiked["value"], spiked["expected"]) == (258_108, 10_000)
    assert '"value":258108,' in answers["GMV 暴涨"].text
    assert '"expected":10000,' in answers["GMV 暴涨"].text
    assert spiked["message"] == (
        "GMV 暴涨: gmv = 258108, +2481% against 10000 (the same weekday of the previous 4 weeks)"
    )
    assert '"value":258108,' in answers["GMV 高"].text
    assert answers["GMV 高"].json()["message"] == "GMV 高: gmv = 258108, above 100000"
    assert '"expected":null,' in answers["GMV 高"].text
    # orders: the value is a count; the baseline is a mean of counts (2.25 orders)
    assert '"value":10,' in answers["订单多"].text
    assert answers["订单多"].json()["expected"] == 2.25
    r = await client.get("/v1/admin/analytics/alerts", headers=shop.admin)
    assert [(a["value"], a["expected"]) for a in r.json()["items"]] == [
        (10, 2.25),
        (258_108, None),
        (258_108, 10_000),
    ]
    assert '"value":258108.0' not in r.text and '"expected":10000.0' not in r.text
    assert await tasks.deliver_webhooks(rt.db, rt.clock, rt.analytics) == 1
    body = delivered[0].content.decode()
    assert '"value": 258108,' in body and '"expected": 10000,' in body


async def test_admin_routes_say_an_admin_token_is_required(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member("m1")
    r = await client.get("/v1/admin/analytics/alerts", headers=member)
    assert assert_error(r, 401)["message"] == "An admin token is required."
    r = await client.get("/v1/admin/analytics/alerts")
    assert assert_error(r, 401)["message"] == "An admin token is required."
    r = await client.get("/v1/me", headers=shop.admin)
    assert assert_error(r, 401)["message"] == "A member token is required."
