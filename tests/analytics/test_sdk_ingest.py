"""The SDK-compatible ingest endpoints (PostHog, Sensors Data, Segment).

First the official SDKs, unchanged, send to a real server (uvicorn on a free port, in the
test's event loop; the SDKs' blocking calls run in a thread): what lands in the event store
is counted exactly, gzip is used where the SDK gzips, a resent request is not counted twice,
and identified anonymous ids resolve to the member. Then each format's edges with
hand-built bodies.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote

import httpx
import posthog
import pytest
import sensorsanalytics
import uvicorn
from segment import analytics as segment_analytics

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.conftest import Stack
from tests.helpers import Shop, assert_error, bearer, make_shop

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# ---- helpers --------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int = 0


@dataclass
class Live:
    base: str
    requests: list[Seen] = field(default_factory=list)

    def to(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]


def _recording(app: ASGIApp, seen: list[Seen]) -> ASGIApp:
    """The app, noting each HTTP request (headers and the body as sent) and its status."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        entry = Seen(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode(),
            {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]},
            b"",
        )
        seen.append(entry)

        async def receive_noting() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                entry.body += message.get("body", b"")
            return message

        async def send_noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        await app(scope, receive_noting, send_noting)

    return wrapper


@pytest.fixture
async def live(stack: Stack, rt: Runtime) -> AsyncIterator[Live]:
    """The app served by uvicorn on a free port of 127.0.0.1, in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    result = Live(f"http://127.0.0.1:{port}")
    config = uvicorn.Config(
        _recording(stack.app, result.requests),  # type: ignore[arg-type]
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield result
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def _member_id(shop: Shop, code: str) -> str:
    r = await shop.client.get("/v1/me", headers=bearer(shop.members[code]))
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def _rows(shop: Shop, where: str = "true") -> list[tuple[Any, ...]]:
    return await shop.rt.analytics.store.query(
        shop.merchant_id,
        # epoch_ms: SDK clocks compared to the millisecond
        "SELECT event, distinct_id, person, mem, platform, epoch_ms(time), properties, uuid "
        "FROM events "
        f"WHERE {where} ORDER BY time, event, distinct_id",
    )


async def _count(shop: Shop) -> int:
    rows = await shop.rt.analytics.store.query(shop.merchant_id, "SELECT count(*) FROM events")
    return int(rows[0][0])


async def _replay(live: Live, seen: Seen) -> dict[str, Any]:
    """Send a recorded request again, byte for byte (what an SDK's retry does)."""
    headers = {
        k: v
        for k, v in seen.headers.items()
        if k in ("content-type", "content-encoding", "authorization", "user-agent")
    }
    url = f"{live.base}{seen.path}" + (f"?{seen.query}" if seen.query else "")
    async with httpx.AsyncClient() as http:
        r = await http.request(seen.method, url, content=seen.body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _replay_all(live: Live, sent: list[Seen]) -> dict[str, int]:
    totals = {"accepted": 0, "duplicates": 0, "dropped": 0, "refused": 0}
    for seen in sent:
        answer = await _replay(live, seen)
        assert answer["rejected"] == [], answer
        for name in totals:
            totals[name] += answer[name]
    return totals


def _utc(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


# ---- the official SDKs against a running server ---------------------------------------------


async def test_posthog_python_sdk(live: Live, client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await shop.member("ph-member")
    member = await _member_id(shop, "ph-member")
    errors: list[Any] = []

    def run() -> None:
        ph = posthog.Posthog(
            shop.ingest_key,
            host=live.base,
            gzip=True,
            flush_at=100,
            flush_interval=0.5,
            on_error=lambda exc, batch: errors.append(exc),
        )
        ph.capture("$pageview", distinct_id="ph-anon-1", properties={"$current_url": "/menu"})
        ph.capture("view_product", distinct_id="ph-anon-1", properties={"sku": "tea-1"})
        ph.capture("view_product", distinct_id="ph-anon-2", properties={"sku": "tea-2"})
        # posthog-js's identify: the anonymous id's events are now the member's (dev code).
        ph.capture(
            "$identify", distinct_id="ph-member", properties={"$anon_distinct_id": "ph-anon-1"}
        )
        # posthog-python's alias: `distinct_id` joins `previous_id`'s person.
        ph.alias(previous_id="ph-member", distinct_id="ph-anon-2")
        ph.capture("add_to_cart", distinct_id="ph-member", properties={"amount": 1500})
        ph.flush()
        ph.shutdown()

    await asyncio.to_thread(run)
    assert errors == []
    sent = live.to("/batch/")  # one request, unless the consumer's timer split the batch
    assert sent and all(r.status == 200 for r in sent)
    assert all(r.headers["content-encoding"] == "gzip" for r in sent)
    assert all(r.body[:2] == b"\x1f\x8b" for r in sent)

    rows = await _rows(shop)
    assert sorted(r[0] for r in rows) == sorted(
        ["$pageview", "view_product", "view_product", "$identify", "$create_alias", "add_to_cart"]
    )
    assert {(r[2], r[3]) for r in rows} == {(member, member)}  # every id is the member now
    assert {r[4] for r in rows} == {"server"}  # $lib posthog-python
    # The SDK's clock is months ahead of the frozen one: corrected from sent_at.
    for row in rows:
        assert abs(_utc(row[5]) - rt.clock.now()) < timedelta(minutes=1), row

    assert await _replay_all(live, sent) == {
        "accepted": 6,
        "duplicates": 6,
        "dropped": 0,
        "refused": 0,
    }
    assert await _count(shop) == 6


async def test_sensors_python_sdk(live: Live, client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await shop.member("sa-member")
    member = await _member_id(shop, "sa-member")
    url = f"{live.base}/sa?token={shop.ingest_key}"

    def run() -> None:
        one_by_one = sensorsanalytics.SensorsAnalytics(sensorsanalytics.DefaultConsumer(url))
        one_by_one.track("sa-anon-1", "ViewProduct", {"sku": "tea-1"})
        one_by_one.track("sa-anon-2", "ViewProduct", {"sku": "tea-2"})
        one_by_one.close()
        batched = sensorsanalytics.SensorsAnalytics(sensorsanalytics.BatchConsumer(url))
        batched.track("sa-anon-1", "AddToCart", {"sku": "tea-1", "amount": 1800})
        batched.track_signup("sa-member", "sa-anon-1")  # the anonymous id signs up as the member
        batched.track("sa-member", "Buy", {"amount": 1800}, is_login_id=True)
        batched.profile_set("sa-member", {"level": "gold"}, is_login_id=True)  # not an event
        batched.flush()
        batched.close()

    await asyncio.to_thread(run)
    sent = live.to("/sa")
    assert [r.status for r in sent] == [200, 200, 200]
    for request in sent:
        fields = parse_qs(request.body.decode())
        assert fields["gzip"] == ["1"]
        payload = (fields.get("data") or fields["data_list"])[0]
        assert base64.b64decode(payload)[:2] == b"\x1f\x8b"  # base64 of gzip
    assert "data_list" in parse_qs(sent[2].body.decode())

    rows = await _rows(shop)
    assert sorted(r[0] for r in rows) == [
        "$SignUp",
        "AddToCart",
        "Buy",
        "ViewProduct",
        "ViewProduct",
    ]
    people = {r[1]: (r[2], r[3]) for r in rows}
    assert people["sa-anon-1"] == (member, member)  # linked by track_signup
    assert people["sa-member"] == (member, member)  # the dev code
    assert people["sa-anon-2"] == ("sa-anon-2", None)
    assert {r[4] for r in rows} == {"server"}  # $lib python

    again = await _replay(live, sent[2])  # the batch: 3 events and a profile
    assert again == {"accepted": 4, "rejected": [], "duplicates": 3, "dropped": 0, "refused": 0}
    again = await _replay(live, sent[0])
    assert again["duplicates"] == 1
    assert await _count(shop) == 5


async def test_segment_python_sdk(live: Live, client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await shop.member("sg-member")
    member = await _member_id(shop, "sg-member")
    errors: list[Any] = []

    def run() -> None:
        sg = segment_analytics.Client(
            shop.ingest_key,
            host=live.base,
            gzip=True,
            upload_size=100,
            upload_interval=0.5,
            on_error=lambda exc, batch: errors.append(exc),
        )
        sg.track(anonymous_id="sg-anon-1", event="View Product", properties={"sku": "tea-1"})
        sg.page(
            anonymous_id="sg-anon-1",
            name="Menu",
            properties={"url": "https://shop.test/menu", "path": "/menu"},
        )
        sg.track(anonymous_id="sg-anon-2", event="View Product", properties={"sku": "tea-2"})
        sg.identify(user_id="sg-member", anonymous_id="sg-anon-1", traits={"plan": "gold"})
        sg.alias(previous_id="sg-anon-2", user_id="sg-member")
        sg.screen(user_id="sg-member", name="Cart")
        sg.track(user_id="sg-member", event="Order Completed", properties={"amount": 3000})
        sg.group(user_id="sg-member", group_id="company-1")  # acknowledged, not stored
        sg.flush()
        sg.shutdown()

    await asyncio.to_thread(run)
    assert errors == []
    sent = live.to("/v1/batch")
    assert sent and all(r.status == 200 for r in sent)
    assert all(r.headers["content-encoding"] == "gzip" for r in sent)
    assert all(r.headers["authorization"].startswith("Basic ") for r in sent)

    rows = await _rows(shop)
    assert sorted(r[0] for r in rows) == sorted(
        [
            "View Product",
            "page_view",
            "View Product",
            "$identify",
            "$create_alias",
            "screen_view",
            "Order Completed",
        ]
    )
    assert {(r[2], r[3]) for r in rows} == {(member, member)}
    assert {r[4] for r in rows} == {"server"}  # analytics-python
    page = next(r for r in rows if r[0] == "page_view")
    assert json.loads(page[6])["name"] == "Menu"
    assert json.loads(page[6])["url"] == "https://shop.test/menu"
    for row in rows:
        assert abs(_utc(row[5]) - rt.clock.now()) < timedelta(minutes=1), row

    assert await _replay_all(live, sent) == {
        "accepted": 8,
        "duplicates": 7,
        "dropped": 0,
        "refused": 0,
    }
    assert await _count(shop) == 7


# ---- PostHog bodies -------------------------------------------------------------------------


def _ph_event(n: int, **extra: Any) -> dict[str, Any]:
    return {"event": "view", "distinct_id": f"d{n}", "uuid": f"ph-{n}", **extra}


async def test_posthog_single_event_gzip_and_form_bodies(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    key = shop.ingest_key
    # posthog-js: one event, the key in properties.token.
    r = await client.post(
        "/e/", json={"event": "$pageview", "properties": {"distinct_id": "d1", "token": key}}
    )
    assert r.status_code == 200, r.text
    # gzip with Content-Encoding
    body = gzip.compress(json.dumps({"api_key": key, "batch": [_ph_event(2)]}).encode())
    r = await client.post(
        "/batch/",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.json()["accepted"] == 1, r.text
    # ?compression=gzip-js, text/plain, no Content-Encoding
    body = gzip.compress(json.dumps([_ph_event(3, api_key=key)]).encode())
    r = await client.post(
        "/i/v0/e/?compression=gzip-js", content=body, headers={"Content-Type": "text/plain"}
    )
    assert r.json()["accepted"] == 1, r.text
    # form data=<base64 of JSON>
    data = base64.b64encode(json.dumps({"api_key": key, **_ph_event(4)}).encode()).decode()
    r = await client.post(
        "/capture/?compression=base64",
        content=f"data={quote(data)}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["accepted"] == 1, r.text
    # ... with its '+' left unencoded (it arrives as ' ')
    n = 5
    plus = next(
        e
        for e in (_ph_event(n, api_key=key, properties={"q": ">" * i}) for i in range(1, 50))
        if "+" in _b64(e)
    )
    data = _b64(plus)
    r = await client.post(
        "/capture",
        content=f"data={data}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["accepted"] == 1, r.text
    rows = await _rows(shop)
    assert sorted(r[1] for r in rows) == sorted(["d1", "d2", "d3", "d4", f"d{n}"])
    assert {r[4] for r in rows} == {"web"}


def _b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


async def test_posthog_bad_bodies_are_4xx(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    key = shop.ingest_key
    cases: list[tuple[bytes, dict[str, str], str]] = [
        (b"{not json", {}, "/batch/"),
        (b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}, "/batch/"),
        (b"not gzip at all", {"Content-Encoding": "gzip"}, "/batch/"),
        (b"data=%%%not-base64", {"Content-Type": "application/x-www-form-urlencoded"}, "/e/"),
        (
            b"data=" + _b64("x").encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
            "/e/",
        ),
        (
            b"data=abc",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "/e/?compression=lz64",
        ),
        (b"[" * 100_000, {}, "/batch/"),  # nesting deeper than the parser's recursion limit
        (json.dumps({"api_key": key, "batch": "nope"}).encode(), {}, "/batch/"),
        (json.dumps({"api_key": key}).encode(), {}, "/capture/"),
    ]
    for body, headers, path in cases:
        r = await client.post(path, content=body, headers=headers)
        assert r.status_code in (401, 422), (body[:40], r.text)
        assert_error(r, r.status_code)
    # with a good key, an undecodable body is invalid_batch
    r = await client.post("/batch/", content=b"{not json")
    assert_error(r, 422, "invalid_batch")
    r = await client.post("/batch/", json={"api_key": key, "batch": "nope"})
    assert_error(r, 422, "invalid_batch")
    r = await client.post("/e/?compression=lz64", content=b"data=abc")
    assert_error(r, 422, "invalid_batch")
    assert await _count(shop) == 0


async def test_posthog_bad_events_are_rejected_alone(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    big = {"blob": "x" * 40_000}
    batch = [
        _ph_event(0),
        {"event": "view", "uuid": "ph-nodistinct"},  # no distinct id
        _ph_event(2, properties=big),  # over the per-event limit
        "not an event",
        _ph_event(4, timestamp="yesterday-ish"),
        _ph_event(5),
    ]
    r = await client.post("/batch/", json={"api_key": shop.ingest_key, "batch": batch})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert [(x["index"], x["code"]) for x in body["rejected"]] == [
        (3, "invalid_event"),
        (1, "invalid_distinct_id"),
        (2, "event_too_large"),
        (4, "invalid_time"),
    ]
    assert sorted(r[1] for r in await _rows(shop)) == ["d0", "d5"]


async def test_posthog_oversized_body_is_413(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    huge = json.dumps({"api_key": shop.ingest_key, "batch": [], "pad": "x" * 5_300_000}).encode()
    r = await client.post("/batch/", content=huge)
    assert_error(r, 413, "payload_too_large")
    # a small gzip body that would expand past the limit
    bomb = gzip.compress(b'{"batch": [], "pad": "' + b"x" * 6_000_000 + b'"}')
    assert len(bomb) < 100_000
    r = await client.post("/batch/", content=bomb, headers={"Content-Encoding": "gzip"})
    assert_error(r, 413, "payload_too_large")
    too_many = [_ph_event(i) for i in range(10_001)]
    r = await client.post("/batch/", json={"api_key": shop.ingest_key, "batch": too_many})
    assert_error(r, 413, "payload_too_large")


async def test_wrong_keys_are_401(client: httpx.AsyncClient, rt: Runtime) -> None:
    await make_shop(client, rt)
    r = await client.post("/batch/", json={"api_key": "nope", "batch": [_ph_event(1)]})
    assert_error(r, 401, "invalid_ingest_key")
    r = await client.post("/capture/", json=_ph_event(1))  # no key at all
    assert_error(r, 401, "invalid_ingest_key")
    form = {"data": _b64({"type": "track", "event": "view", "distinct_id": "d"})}
    r = await client.post("/sa?token=nope", data=form)
    assert_error(r, 401, "invalid_ingest_key")
    r = await client.post("/sa", data=form)
    assert_error(r, 401, "invalid_ingest_key")
    segment = {"batch": [{"type": "track", "event": "view", "userId": "u"}]}
    r = await client.post("/v1/batch", json={**segment, "writeKey": "nope"})
    assert_error(r, 401, "invalid_ingest_key")
    r = await client.post("/v1/batch", json=segment, headers={"Authorization": _basic("nope")})
    assert_error(r, 401, "invalid_ingest_key")
    r = await client.post("/v1/batch", json=segment, headers={"Authorization": "Basic ###"})
    assert_error(r, 401, "invalid_ingest_key")
    r = await client.post("/v1/batch", json=segment, headers=bearer("some-oauth-token"))
    assert_error(r, 401, "invalid_ingest_key")


async def test_bots_are_dropped(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    body = {"api_key": shop.ingest_key, "batch": [_ph_event(1), _ph_event(2)]}
    r = await client.post(
        "/batch/", json=body, headers={"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}
    )
    assert r.json() == {"accepted": 2, "rejected": [], "duplicates": 0, "dropped": 2, "refused": 0}
    # a browser event whose own user agent is a crawler's
    body = {
        "api_key": shop.ingest_key,
        "batch": [_ph_event(3, properties={"$raw_user_agent": "Baiduspider/2.0"}), _ph_event(4)],
    }
    r = await client.post("/batch/", json=body)
    assert r.json()["dropped"] == 1
    # Segment: context.userAgent
    messages = [
        {"type": "track", "event": "v", "userId": "u1", "context": {"userAgent": "bingbot/2.0"}},
        {"type": "track", "event": "v", "userId": "u2", "context": {"userAgent": "Mozilla/5.0"}},
    ]
    r = await client.post("/v1/batch", json={"writeKey": shop.ingest_key, "batch": messages})
    assert r.json()["dropped"] == 1
    assert sorted(r[1] for r in await _rows(shop)) == ["d4", "u2"]


async def test_clock_skew_and_future_times(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    now = clock.now()

    async def send(sent_at: datetime, at: datetime, n: int) -> datetime:
        body = {
            "api_key": shop.ingest_key,
            "sent_at": sent_at.isoformat(),
            "batch": [_ph_event(n, timestamp=at.isoformat())],
        }
        r = await client.post("/batch/", json=body)
        assert r.json()["accepted"] == 1, r.text
        rows = await _rows(shop, f"uuid = 'ph-{n}'")
        return _utc(rows[0][5])

    # a client clock an hour slow: corrected by the hour
    slow = now - timedelta(hours=1)
    assert await send(slow, slow - timedelta(minutes=3), 1) == now - timedelta(minutes=3)
    # five minutes off is latency, not skew: left alone
    near = now - timedelta(minutes=5)
    assert await send(near, near - timedelta(minutes=3), 2) == near - timedelta(minutes=3)
    # no sent_at and a time two days ahead: clamped to when it arrived
    body = {
        "api_key": shop.ingest_key,
        "batch": [_ph_event(3, timestamp=(now + timedelta(days=2)).isoformat())],
    }
    r = await client.post("/batch/", json=body)
    assert r.json()["accepted"] == 1
    assert _utc((await _rows(shop, "uuid = 'ph-3'"))[0][5]) == now
    # Segment: sentAt corrects the same way
    msg = {
        "type": "track",
        "event": "v",
        "userId": "u",
        "messageId": "sg-skew",
        "timestamp": (slow - timedelta(minutes=3)).isoformat(),
    }
    r = await client.post(
        "/v1/batch", json={"writeKey": shop.ingest_key, "sentAt": slow.isoformat(), "batch": [msg]}
    )
    assert r.json()["accepted"] == 1
    assert _utc((await _rows(shop, "uuid = 'sg-skew'"))[0][5]) == now - timedelta(minutes=3)
    # Sensors: the web SDK's _flush_time is the batch's clock
    ms = int((slow - timedelta(minutes=3)).timestamp() * 1000)
    record = {"type": "track", "event": "v", "distinct_id": "s", "time": ms}
    record["_flush_time"] = int(slow.timestamp() * 1000)
    r = await client.post(f"/sa?token={shop.ingest_key}", data={"data": _sa(record)})
    assert r.json()["accepted"] == 1
    assert _utc((await _rows(shop, "distinct_id = 's'"))[0][5]) == now - timedelta(minutes=3)


async def test_posthog_identify_links_and_dedup(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await shop.member("ph-m")
    member = await _member_id(shop, "ph-m")
    batch = [
        {"event": "view", "distinct_id": "anon-x", "uuid": "u1"},
        {
            "event": "$identify",
            "distinct_id": "ph-m",
            "uuid": "u2",
            "properties": {"$anon_distinct_id": "anon-x", "$lib": "posthog-ios"},
        },
        {"event": "view", "distinct_id": "anon-x", "properties": {"$insert_id": "u3"}},
        {"event": "view", "distinct_id": "anon-x", "uuid": "u1"},  # the same event twice
    ]
    r = await client.post("/batch/", json={"api_key": shop.ingest_key, "batch": batch})
    assert r.json() == {"accepted": 4, "rejected": [], "duplicates": 1, "dropped": 0, "refused": 0}
    rows = await _rows(shop)
    assert len(rows) == 3
    assert {(r[2], r[3]) for r in rows} == {(member, member)}
    assert {r[7] for r in rows} == {"u1", "u2", "u3"}
    assert next(r[4] for r in rows if r[0] == "$identify") == "app"


# ---- Sensors Data bodies --------------------------------------------------------------------


def _sa(record: Any, *, gz: bool = False) -> str:
    raw = json.dumps(record).encode()
    return base64.b64encode(gzip.compress(raw) if gz else raw).decode()


def _sa_record(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "ViewProduct",
        "distinct_id": f"sa{n}",
        "time": 1_772_416_800_000 + n,  # 2026-03-02T02:00:00Z, in ms
        "_track_id": 100 + n,
        "properties": {"$lib": "MiniProgram"},
        **extra,
    }


async def test_sensors_forms(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    url = f"/sa?token={shop.ingest_key}"
    # data: one record, plain base64, a real form
    r = await client.post(url, data={"data": _sa(_sa_record(1))})
    assert r.json()["accepted"] == 1, r.text
    # data_list, gzip=1
    r = await client.post(
        url, data={"data_list": _sa([_sa_record(2), _sa_record(3)], gz=True), "gzip": "1"}
    )
    assert r.json()["accepted"] == 2, r.text
    # the mini-program SDK: the same form as text/plain, '+' left as is (it reads as ' ')
    n = 4
    plus = next(
        record
        for record in (
            _sa_record(n, properties={"$lib": "MiniProgram", "q": ">" * i}) for i in range(1, 50)
        )
        if "+" in _sa([record])
    )
    r = await client.post(
        url,
        content=f"data_list={_sa([plus])}&gzip=0",
        headers={"Content-Type": "text/plain"},
    )
    assert r.json()["accepted"] == 1, r.text
    # the token in the form instead of the query; gzip other than 1: plain base64
    r = await client.post(
        "/sa", data={"data": _sa(_sa_record(9_999)), "gzip": "9", "token": shop.ingest_key}
    )
    assert r.json()["accepted"] == 1, r.text
    rows = await _rows(shop)
    assert sorted(r[1] for r in rows) == sorted(["sa1", "sa2", "sa3", f"sa{n}", "sa9999"])
    assert {r[4] for r in rows} == {"wechat"}  # $lib MiniProgram
    assert _utc(rows[0][5]) == datetime(2026, 3, 2, 2, 0, 0, 1000, tzinfo=UTC)


async def test_sensors_records(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await shop.member("sa-m")
    member = await _member_id(shop, "sa-m")
    url = f"/sa?token={shop.ingest_key}"
    records = [
        _sa_record(1, distinct_id="anon-1"),
        {"type": "profile_set", "distinct_id": "sa-m", "properties": {"level": 2}},
        {"type": "item_set", "item_type": "tea", "item_id": "t1", "properties": {}},
        # the web SDK when logged in: login_id is the distinct id, anonymous_id is linked
        _sa_record(2, distinct_id="sa-m", login_id="sa-m", anonymous_id="anon-2"),
        _sa_record(3, distinct_id="anon-2", lib={"$lib": "js"}, properties={}),
        {
            "type": "track_signup",
            "event": "$SignUp",
            "distinct_id": "sa-m",
            "original_id": "anon-1",
            "time": 1_772_416_800_500,
        },
        {"type": "weird", "event": "x", "distinct_id": "d"},
        _sa_record(4, event=""),
        _sa_record(1, distinct_id="anon-1"),  # the same _track_id, distinct id and time again
        _sa_record(1, distinct_id="anon-1", time=1_772_416_900_000),  # same _track_id, later
    ]
    r = await client.post(url, data={"data_list": _sa(records, gz=True), "gzip": "1"})
    body = r.json()
    assert body["accepted"] == 8, body  # two acknowledged (profile, item), six events
    assert body["duplicates"] == 1
    assert [(x["index"], x["code"]) for x in body["rejected"]] == [
        (6, "invalid_event"),
        (7, "invalid_event"),
    ]
    rows = await _rows(shop)
    assert len(rows) == 5
    assert {(r[2], r[3]) for r in rows} == {(member, member)}
    assert next(r[4] for r in rows if r[1] == "anon-2") == "web"
    # a resent body counts nothing twice
    r = await client.post(url, data={"data_list": _sa(records, gz=True), "gzip": "1"})
    assert r.json()["duplicates"] == 6
    assert await _count(shop) == 5


async def test_sensors_bad_bodies_are_4xx(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    url = f"/sa?token={shop.ingest_key}"
    bad: list[dict[str, str] | bytes] = [
        {"data": "a"},  # not base64
        {"data": base64.b64encode(b"{nope").decode()},  # not JSON
        {"data_list": base64.b64encode(b"\x1f\x8b\x08\x00broken").decode(), "gzip": "1"},
        {"data_list": _sa([_sa_record(1)]), "gzip": "1"},  # says gzip, is not
        {"data": _sa("just text")},
        {"other": "x"},  # no data field
        b"\xff\xfe not utf-8",
        b"&".join(b"f%d=1" % i for i in range(200)),  # too many fields
        {"data": base64.b64encode(b"[" * 100_000).decode()},
    ]
    for form in bad:
        if isinstance(form, bytes):
            r = await client.post(url, content=form, headers={"Content-Type": "text/plain"})
        else:
            r = await client.post(url, data=form)
        assert_error(r, 422, "invalid_batch")
    assert await _count(shop) == 0


# ---- Segment bodies -------------------------------------------------------------------------


def _basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_segment_auth_messages_and_single_endpoints(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await shop.member("sg-m")
    member = await _member_id(shop, "sg-m")
    auth = {"Authorization": _basic(shop.ingest_key)}
    batch = [
        {"type": "track", "event": "View", "anonymousId": "a1", "messageId": "m1",
         "context": {"library": {"name": "analytics.js"}, "campaign": {"source": "wechat_ad"}}},
        {"type": "track", "event": "View", "userId": "sg-m", "anonymousId": "a2", "messageId": "m2",
         "context": {"library": {"name": "analytics-ios"}}},
        {"type": "group", "userId": "sg-m", "groupId": "g"},
        {"type": "bogus", "userId": "sg-m"},
        {"type": "track", "userId": "sg-m", "messageId": "m3"},  # no event name
        {"type": "screen", "userId": "sg-m", "name": "Home", "messageId": "m4",
         "context": {"library": {"name": "analytics-android"}}},
    ]  # fmt: skip
    r = await client.post("/v1/batch", json={"batch": batch}, headers=auth)  # Basic auth only
    body = r.json()
    assert body["accepted"] == 4, body  # three events and the group call
    assert [(x["index"], x["code"]) for x in body["rejected"]] == [
        (3, "invalid_event"),
        (4, "invalid_event"),
    ]
    # the single-message endpoints, key in the body
    r = await client.post(
        "/v1/identify",
        json={
            "writeKey": shop.ingest_key,
            "userId": "sg-m",
            "anonymousId": "a1",
            "traits": {"vip": True},
        },
    )
    assert r.json()["accepted"] == 1, r.text
    r = await client.post(
        "/v1/page",
        json={"anonymousId": "a3", "name": "Menu", "properties": {"path": "/menu"}},
        headers=auth,
    )
    assert r.json()["accepted"] == 1, r.text
    r = await client.post("/v1/alias", json={"previousId": "a3", "userId": "sg-m"}, headers=auth)
    assert r.json()["accepted"] == 1, r.text
    r = await client.post("/v1/group", json={"userId": "sg-m", "groupId": "g"}, headers=auth)
    assert r.json() == {"accepted": 1, "rejected": [], "duplicates": 0, "dropped": 0, "refused": 0}
    r = await client.post(
        "/v1/track", json={"userId": "sg-m", "event": "Buy", "messageId": "m1"}, headers=auth
    )
    assert r.json()["duplicates"] == 1  # messageId m1 was stored already

    rows = await _rows(shop)
    assert sorted(r[0] for r in rows) == sorted(
        ["View", "View", "screen_view", "$identify", "page_view", "$create_alias"]
    )
    assert {(r[2], r[3]) for r in rows} == {(member, member)}
    platforms = {r[7]: r[4] for r in rows}
    assert platforms["m1"] == "web" and platforms["m2"] == "app" and platforms["m4"] == "app"
    first = next(r for r in rows if r[7] == "m1")
    assert json.loads(first[6])["utm_source"] == "wechat_ad"
    page = next(r for r in rows if r[0] == "page_view")
    assert json.loads(page[6]) == {"path": "/menu", "name": "Menu"}


async def test_segment_bad_bodies_are_4xx(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    auth = {"Authorization": _basic(shop.ingest_key)}
    for body in (b"{nope", b"[]", b'{"batch": {}}', b'"text"', b"[" * 100_000):
        r = await client.post("/v1/batch", content=body, headers=auth)
        assert_error(r, 422, "invalid_batch")
    r = await client.post("/v1/track", content=b"[1, 2]", headers=auth)
    assert_error(r, 422, "invalid_batch")
    r = await client.post(
        "/v1/batch", content=b"\x1f\x8bnot really", headers={**auth, "Content-Encoding": "gzip"}
    )
    assert_error(r, 422, "invalid_batch")
    too_big = {
        "batch": [{"type": "track", "event": "v", "userId": "u", "properties": {"x": "y" * 40_000}}]
    }
    r = await client.post("/v1/batch", json=too_big, headers=auth)
    assert [(x["index"], x["code"]) for x in r.json()["rejected"]] == [(0, "event_too_large")]
    assert await _count(shop) == 0


async def test_openapi_documents_the_compat_routes(client: httpx.AsyncClient, rt: Runtime) -> None:
    doc = (await client.get("/openapi.json")).json()
    for path in ("/capture/", "/batch/", "/sa", "/v1/batch"):
        operation = doc["paths"][path]["post"]
        assert operation["requestBody"]["description"], path
        assert operation["requestBody"]["content"], path
        assert "200" in operation["responses"]
    assert doc["paths"]["/sa"]["post"]["parameters"][0]["name"] == "token"
    assert "text/plain" in doc["paths"]["/sa"]["post"]["requestBody"]["content"]
