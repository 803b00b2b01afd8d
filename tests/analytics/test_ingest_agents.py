"""Which user agents are bots. The native endpoint is what integrators' scripts call (curl,
wget, HTTPie, python-requests): their events are stored; crawlers are dropped everywhere.
The SDK-compatible endpoints are called by SDKs, so a script's agent there stays a bot."""

from __future__ import annotations

import httpx
import pytest

from growthloop.core.runtime import Runtime
from tests.helpers import make_shop

SCRIPTS = ["curl/8.5.0", "Wget/1.21.4", "HTTPie/3.2.2", "python-requests/2.31.0"]
CRAWLERS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile "
    "Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
]


@pytest.mark.parametrize("agent", SCRIPTS)
async def test_scripts_are_not_bots_on_the_native_endpoint(
    client: httpx.AsyncClient, rt: Runtime, agent: str
) -> None:
    shop = await make_shop(client, rt)
    events = [
        {"event": "view", "distinct_id": "d1", "uuid": "e1"},
        # the agent in the event's own properties, as a script might copy it
        {"event": "view", "distinct_id": "d2", "uuid": "e2", "properties": {"$useragent": agent}},
    ]
    r = await client.post(
        "/v1/ingest/batch",
        json={"events": events},
        headers={"X-Ingest-Key": shop.ingest_key, "User-Agent": agent},
    )
    assert r.json() == {"accepted": 2, "rejected": [], "duplicates": 0, "dropped": 0, "refused": 0}
    assert await rt.analytics.store.count(shop.merchant_id) == 2
    # The SDK endpoints still drop them.
    body = {"api_key": shop.ingest_key, "batch": [{"event": "view", "distinct_id": "d3"}]}
    r = await client.post("/batch/", json=body, headers={"User-Agent": agent})
    assert r.json() == {"accepted": 1, "rejected": [], "duplicates": 0, "dropped": 1, "refused": 0}
    assert await rt.analytics.store.count(shop.merchant_id) == 2


@pytest.mark.parametrize("agent", CRAWLERS)
async def test_crawlers_are_dropped_on_the_native_endpoint(
    client: httpx.AsyncClient, rt: Runtime, agent: str
) -> None:
    shop = await make_shop(client, rt)
    r = await client.post(
        "/v1/ingest/batch",
        json={"events": [{"event": "view", "distinct_id": "d1"}]},
        headers={"X-Ingest-Key": shop.ingest_key, "User-Agent": agent},
    )
    assert r.json() == {"accepted": 1, "rejected": [], "duplicates": 0, "dropped": 1, "refused": 0}
    events = [{"event": "view", "distinct_id": "d2", "properties": {"$raw_user_agent": agent}}]
    r = await client.post(
        "/v1/ingest/batch",
        json={"events": events},
        headers={"X-Ingest-Key": shop.ingest_key, "User-Agent": "curl/8.5.0"},
    )
    assert r.json()["dropped"] == 1
    assert await rt.analytics.store.count(shop.merchant_id) == 0
