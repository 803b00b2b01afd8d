"""Consent is enforced where the data is used: no analytics events of a member who refused
analytics, no location in events without the separate location consent, and ordering and
paying need neither phone, birthday, location nor membership."""

from __future__ import annotations

import json

import httpx

from growthloop.core.runtime import Runtime
from tests.helpers import make_shop

PLACE = {"$latitude": 31.23, "$longitude": 121.47, "location": "上海静安", "page": "menu"}


async def test_analytics_and_location_follow_consent(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    refuser = await shop.member("refuser")
    locator = await shop.member("locator")
    await shop.member("undecided")
    r = await client.put("/v1/me/consents", json={"analytics": False}, headers=refuser)
    assert r.status_code == 200, r.text
    r = await client.put("/v1/me/consents", json={"location": True}, headers=locator)
    assert r.status_code == 200, r.text
    events = [
        {"event": "view", "distinct_id": code, "properties": PLACE, "uuid": code}
        for code in ("refuser", "locator", "undecided", "anonymous-device")
    ]
    r = await client.post(
        "/v1/ingest/batch", json={"events": events}, headers={"X-Ingest-Key": shop.ingest_key}
    )
    assert r.json() | {"rejected": []} == {
        "accepted": 4,
        "rejected": [],
        "duplicates": 0,
        "dropped": 0,
        "refused": 1,
    }
    rows = await rt.analytics.store.query(
        shop.merchant_id, "SELECT distinct_id, properties FROM events ORDER BY distinct_id"
    )
    stored = {d: json.loads(p) for d, p in rows}
    assert "refuser" not in stored
    assert stored["locator"] == PLACE
    for who in ("undecided", "anonymous-device"):
        assert stored[who] == {"page": "menu"}, who

    # Changing one's mind applies from then on.
    r = await client.put("/v1/me/consents", json={"analytics": True}, headers=refuser)
    events = [{"event": "view", "distinct_id": "refuser", "uuid": "again"}]
    r = await client.post(
        "/v1/ingest/batch", json={"events": events}, headers={"X-Ingest-Key": shop.ingest_key}
    )
    assert r.json()["refused"] == 0
    assert await rt.analytics.store.count(shop.merchant_id) == 4


async def test_ordering_and_paying_need_nothing_optional(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """No phone, no birthday, no location, no membership, every optional purpose refused."""
    shop = await make_shop(client, rt)
    product = await shop.product(price=990)
    member = await shop.member("minimal", join=False)
    refusals = {"analytics": False, "personalisation": False, "marketing": False}
    r = await client.put("/v1/me/consents", json=refusals | {"phone": False}, headers=member)
    assert r.status_code == 200, r.text
    r = await client.put(
        "/v1/me/consents", json={"location": False, "membership": False}, headers=member
    )
    assert r.status_code == 200, r.text
    order = await shop.paid_order(member, product["id"])
    assert order["status"] == "paid" and order["payable"] == 990
    me = (await client.get("/v1/me", headers=member)).json()
    assert me.get("birthday") is None
