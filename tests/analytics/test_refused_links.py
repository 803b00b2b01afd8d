"""A member who refused analytics gets no identity link from SDK events, in any format and
in any order of a batch: the link is not made, the device's events that the batch ties to
them are refused like their own, and their data export lists only their own ids.

Each batch also carries a consenting member's identify, which is linked as usual."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from growthloop.analytics import service as analytics
from growthloop.analytics.models import AnalyticsIdentity
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, make_shop

ORDERS = ["as_sent", "reversed"]


async def _shop(client: httpx.AsyncClient, rt: Runtime) -> tuple[Shop, str, str]:
    """A shop with `ref` (refused analytics) and `ok` (undecided: events are kept)."""
    shop = await make_shop(client, rt)
    ref = await shop.member("ref")
    await shop.member("ok")
    r = await client.put("/v1/me/consents", json={"analytics": False}, headers=ref)
    assert r.status_code == 200, r.text
    return shop, await _member_id(shop, "ref"), await _member_id(shop, "ok")


async def _member_id(shop: Shop, code: str) -> str:
    r = await shop.client.get("/v1/me", headers={"Authorization": f"Bearer {shop.members[code]}"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def _links(shop: Shop) -> list[tuple[str, str, str | None]]:
    """Every identify-made link of the shop: (distinct id, person, member)."""
    async with shop.rt.db.unit_of_work() as uow:
        rows = await uow.session.execute(
            select(
                AnalyticsIdentity.distinct_id,
                AnalyticsIdentity.person_id,
                AnalyticsIdentity.member_id,
            )
            .where(
                AnalyticsIdentity.merchant_id == shop.merchant_id,
                AnalyticsIdentity.source == "identify",
            )
            .order_by(AnalyticsIdentity.distinct_id)
        )
        return [(d, p, m) for d, p, m in rows]


async def _exported_ids(shop: Shop, code: str) -> list[tuple[str, str]]:
    headers = {"Authorization": f"Bearer {shop.members[code]}"}
    r = await shop.client.post("/v1/me/data-export", headers=headers)
    assert r.status_code == 200, r.text
    ids = r.json()["sections"]["analytics"]["distinct_ids"]
    return sorted((x["distinct_id"], x["source"]) for x in ids)


async def _stored(shop: Shop) -> list[tuple[str, str, str | None]]:
    rows = await shop.rt.analytics.store.query(
        shop.merchant_id, "SELECT distinct_id, event, mem FROM events ORDER BY distinct_id, event"
    )
    return [(d, e, m) for d, e, m in rows]


async def _check(
    shop: Shop, ref: str, ok: str, answer: dict[str, Any], *, events: int, device: str
) -> None:
    """Only the consenting member's two events are stored and only their device linked."""
    assert answer == {
        "accepted": events,
        "rejected": [],
        "duplicates": 0,
        "dropped": 0,
        "refused": events - 2,
    }
    assert await _links(shop) == [(device, ok, ok)]
    assert await _exported_ids(shop, "ref") == sorted([("ref", "member"), (ref, "member")])
    assert (device, "identify") in await _exported_ids(shop, "ok")
    stored = await _stored(shop)
    assert [s[0] for s in stored] == sorted([device, "ok"])
    assert {s[2] for s in stored} == {ok}


def _ordered(items: list[Any], order: str) -> list[Any]:
    return items if order == "as_sent" else items[::-1]


@pytest.mark.parametrize("order", ORDERS)
async def test_native_batch(client: httpx.AsyncClient, rt: Runtime, order: str) -> None:
    shop, ref, ok = await _shop(client, rt)
    events = [
        {"event": "view", "distinct_id": "dev-1", "uuid": "n1"},
        {
            "event": "$identify",
            "distinct_id": "ref",
            "uuid": "n2",
            "properties": {"$anon_distinct_id": "dev-1"},
        },
        # the native body's own anonymous_id, on the member's id
        {"event": "view", "distinct_id": ref, "anonymous_id": "dev-2", "uuid": "n3"},
        {"event": "view", "distinct_id": "dev-2", "uuid": "n4"},
        # an alias the other way round: the new id would join the member
        {
            "event": "$create_alias",
            "distinct_id": "dev-3",
            "uuid": "n5",
            "properties": {"alias": "ref"},
        },
        {"event": "view", "distinct_id": "dev-3", "uuid": "n6"},
        # a chain: dev-5 is dev-4's, and dev-4 is the member's
        {
            "event": "$identify",
            "distinct_id": "dev-4",
            "uuid": "n7",
            "properties": {"$anon_distinct_id": "dev-5"},
        },
        {
            "event": "$identify",
            "distinct_id": "ref",
            "uuid": "n8",
            "properties": {"$anon_distinct_id": "dev-4"},
        },
        {"event": "view", "distinct_id": "dev-5", "uuid": "n9"},
        # the consenting member
        {
            "event": "$identify",
            "distinct_id": "ok",
            "uuid": "n10",
            "properties": {"$anon_distinct_id": "dev-ok"},
        },
        {"event": "view", "distinct_id": "dev-ok", "uuid": "n11"},
    ]
    r = await client.post(
        "/v1/ingest/batch",
        json={"events": _ordered(events, order)},
        headers={"X-Ingest-Key": shop.ingest_key},
    )
    assert r.status_code == 200, r.text
    await _check(shop, ref, ok, r.json(), events=11, device="dev-ok")


@pytest.mark.parametrize("order", ORDERS)
async def test_posthog_batch(client: httpx.AsyncClient, rt: Runtime, order: str) -> None:
    shop, ref, ok = await _shop(client, rt)
    batch = [
        {"event": "$pageview", "distinct_id": "ph-1", "uuid": "p1"},
        {
            "event": "$identify",
            "distinct_id": "ref",
            "uuid": "p2",
            "properties": {"$anon_distinct_id": "ph-1"},
        },
        {
            "event": "$create_alias",
            "distinct_id": "ref",
            "uuid": "p3",
            "properties": {"alias": "ph-2"},
        },
        {"event": "$pageview", "distinct_id": "ph-2", "uuid": "p4"},
        {
            "event": "$create_alias",
            "distinct_id": "ph-3",
            "uuid": "p5",
            "properties": {"alias": "ref"},
        },
        {
            "event": "$merge_dangerously",
            "distinct_id": "ref",
            "uuid": "p6",
            "properties": {"alias": "ph-4"},
        },
        {"event": "$pageview", "distinct_id": "ph-4", "uuid": "p7"},
        {
            "event": "$identify",
            "distinct_id": "ok",
            "uuid": "p8",
            "properties": {"$anon_distinct_id": "ph-ok"},
        },
        {"event": "$pageview", "distinct_id": "ph-ok", "uuid": "p9"},
    ]
    r = await client.post(
        "/batch/", json={"api_key": shop.ingest_key, "batch": _ordered(batch, order)}
    )
    assert r.status_code == 200, r.text
    await _check(shop, ref, ok, r.json(), events=9, device="ph-ok")


def _sa(records: list[dict[str, Any]]) -> str:
    return base64.b64encode(json.dumps(records).encode()).decode()


@pytest.mark.parametrize("order", ORDERS)
async def test_sensors_records(client: httpx.AsyncClient, rt: Runtime, order: str) -> None:
    shop, ref, ok = await _shop(client, rt)
    at = 1_772_416_800_000

    def record(n: int, **fields: Any) -> dict[str, Any]:
        return {"type": "track", "event": "$pageview", "time": at + n, "_track_id": n, **fields}

    records = [
        record(1, distinct_id="sa-1"),
        record(2, type="track_signup", event="$SignUp", distinct_id="ref", original_id="sa-1"),
        # logged in: login_id is the distinct id, anonymous_id is linked
        record(3, distinct_id="sa-2", login_id="ref", anonymous_id="sa-2"),
        record(4, distinct_id="sa-2"),
        # ID-Mapping 3: identities
        record(
            5,
            distinct_id="sa-3",
            identities={"$identity_login_id": "ref", "$identity_anonymous_id": "sa-3"},
        ),
        record(6, distinct_id="sa-3"),
        record(7, type="track_signup", event="$SignUp", distinct_id="ok", original_id="sa-ok"),
        record(8, distinct_id="sa-ok"),
    ]
    r = await client.post(
        f"/sa?token={shop.ingest_key}", data={"data_list": _sa(_ordered(records, order))}
    )
    assert r.status_code == 200, r.text
    await _check(shop, ref, ok, r.json(), events=8, device="sa-ok")


@pytest.mark.parametrize("order", ORDERS)
async def test_segment_batch(client: httpx.AsyncClient, rt: Runtime, order: str) -> None:
    shop, ref, ok = await _shop(client, rt)
    batch = [
        {"type": "page", "anonymousId": "sg-1", "messageId": "g1"},
        {"type": "identify", "userId": "ref", "anonymousId": "sg-1", "messageId": "g2"},
        {
            "type": "track",
            "event": "View",
            "userId": "ref",
            "anonymousId": "sg-2",
            "messageId": "g3",
        },
        {"type": "track", "event": "View", "anonymousId": "sg-2", "messageId": "g4"},
        {"type": "alias", "userId": "ref", "previousId": "sg-3", "messageId": "g5"},
        {"type": "alias", "userId": "sg-4", "previousId": "ref", "messageId": "g6"},
        {"type": "screen", "anonymousId": "sg-4", "messageId": "g7"},
        {"type": "identify", "userId": "ok", "anonymousId": "sg-ok", "messageId": "g8"},
        {"type": "track", "event": "View", "anonymousId": "sg-ok", "messageId": "g9"},
    ]
    r = await client.post(
        "/v1/batch", json={"writeKey": shop.ingest_key, "batch": _ordered(batch, order)}
    )
    assert r.status_code == 200, r.text
    await _check(shop, ref, ok, r.json(), events=9, device="sg-ok")


async def test_a_later_login_does_not_claim_devices_for_a_refuser(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """A device identified to an id nobody had yet, which then turns out to be the refusing
    member's (they sign in on another end with it), stays anonymous."""
    shop, ref, _ = await _shop(client, rt)
    r = await client.post(
        "/v1/ingest/batch",
        json={
            "events": [
                {
                    "event": "$identify",
                    "distinct_id": "ref-alipay-id",
                    "properties": {"$anon_distinct_id": "dev-9"},
                }
            ]
        },
        headers={"X-Ingest-Key": shop.ingest_key},
    )
    assert r.json()["refused"] == 0
    assert await _links(shop) == [("dev-9", "ref-alipay-id", None)]
    async with rt.db.unit_of_work() as uow:
        await analytics.link_member(
            uow.session, shop.merchant_id, ref, ["ref-alipay-id"], rt.clock.now()
        )
    assert await _links(shop) == [("dev-9", "ref-alipay-id", None)]
    assert await _exported_ids(shop, "ref") == sorted(
        [("ref", "member"), (ref, "member"), ("ref-alipay-id", "member")]
    )
