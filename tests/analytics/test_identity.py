"""Events belong to people: a member's ids, and anonymous devices linked at login."""

from __future__ import annotations

from typing import Any

import httpx

from growthloop.analytics.tasks import flush_outbox
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, assert_error, make_shop


async def _send(shop: Shop, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = await shop.client.post(
        "/v1/ingest/batch", json={"events": events}, headers={"X-Ingest-Key": shop.ingest_key}
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _people(shop: Shop) -> dict[str, tuple[str, str | None]]:
    rows = await shop.rt.analytics.store.query(
        shop.merchant_id, "SELECT distinct_id, person, mem FROM events WHERE event = 'view'"
    )
    return {r[0]: (r[1], r[2]) for r in rows}


async def _member_id(shop: Shop, code: str) -> str:
    r = await shop.client.post(
        "/v1/auth/login", json={"merchant_id": shop.merchant_id, "platform": "dev", "code": code}
    )
    return str(r.json()["member_id"])


async def _settle(rt: Runtime) -> None:
    """Business events and login links: what the worker does after each commit."""
    await flush_outbox(rt.db, rt.analytics)


async def test_platform_ids_and_identified_devices_are_the_member(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await shop.member("code-u1")
    member = await _member_id(shop, "code-u1")
    await _send(
        shop,
        [
            {"event": "view", "distinct_id": "code-u1", "uuid": "a1"},  # the dev code (openid)
            {"event": "view", "distinct_id": member, "uuid": "a2"},  # the member id
            {"event": "view", "distinct_id": "device-9", "uuid": "a3"},  # anonymous, for now
        ],
    )
    people = await _people(shop)
    assert people["code-u1"] == (member, member)
    assert people[member] == (member, member)
    assert people["device-9"] == ("device-9", None)

    # PostHog-style identify: the device's earlier events become the member's.
    result = await _send(
        shop,
        [
            {
                "event": "$identify",
                "distinct_id": "code-u1",
                "properties": {"$anon_distinct_id": "device-9"},
            },
            {"event": "view", "distinct_id": "device-9", "uuid": "a4"},
        ],
    )
    assert result["accepted"] == 2
    rows = await rt.analytics.store.query(
        shop.merchant_id,
        "SELECT count(DISTINCT person), count(DISTINCT distinct_id) FROM events "
        "WHERE event = 'view'",
    )
    assert rows == [(1, 3)]  # one person on three ids


async def test_two_members_are_never_merged(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await shop.member("alice")
    await shop.member("bob")
    alice, bob = await _member_id(shop, "alice"), await _member_id(shop, "bob")
    await _send(
        shop,
        [
            {
                "event": "$identify",
                "distinct_id": "alice",
                "properties": {"$anon_distinct_id": "dev-x"},
            },
            {"event": "view", "distinct_id": "dev-x", "uuid": "b1"},
        ],
    )
    # The same device later identified as Bob: the first link stands.
    await _send(
        shop,
        [
            {
                "event": "$identify",
                "distinct_id": "bob",
                "properties": {"$anon_distinct_id": "dev-x"},
            },
            # An identify whose "anonymous" id is another member's own id changes nothing.
            {
                "event": "$identify",
                "distinct_id": "alice",
                "properties": {"$anon_distinct_id": "bob"},
            },
            {"event": "view", "distinct_id": "bob", "uuid": "b2"},
            {"event": "view", "distinct_id": "dev-x", "uuid": "b3"},
        ],
    )
    rows = await rt.analytics.store.query(
        shop.merchant_id, "SELECT uuid, person FROM events WHERE event = 'view' ORDER BY uuid"
    )
    assert rows == [("b1", alice), ("b2", bob), ("b3", alice)]


async def test_identify_before_the_first_login_joins_the_member_later(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await _send(
        shop,
        [
            {"event": "view", "distinct_id": "anon-7", "uuid": "c1"},
            {
                "event": "$identify",
                "distinct_id": "late-code",
                "properties": {"$anon_distinct_id": "anon-7"},
            },
        ],
    )
    assert (await _people(shop))["anon-7"] == ("late-code", None)
    await shop.member("late-code")
    member = await _member_id(shop, "late-code")
    await _settle(rt)
    assert (await _people(shop))["anon-7"] == (member, member)


async def test_ingest_keys_are_per_merchant(client: httpx.AsyncClient, rt: Runtime) -> None:
    a = await make_shop(client, rt, "甲")
    b = await make_shop(client, rt, "乙")
    await _send(a, [{"event": "view", "distinct_id": "x", "uuid": "d1"}])
    assert await rt.analytics.store.count(a.merchant_id) == 1
    assert await rt.analytics.store.count(b.merchant_id) == 0
    r = await client.post(
        "/v1/ingest/batch",
        json={"events": [{"event": "view", "distinct_id": "x"}]},
        headers={"X-Ingest-Key": "ik_not-a-key"},
    )
    assert_error(r, 401, "invalid_ingest_key")
    r = await client.post("/v1/ingest/batch", json={"events": []})
    assert_error(r, 401, "invalid_ingest_key")
    # The body's api_key works as well as the header.
    r = await client.post(
        "/v1/ingest/batch",
        json={"api_key": b.ingest_key, "events": [{"event": "view", "distinct_id": "y"}]},
    )
    assert r.json()["accepted"] == 1
    # An admin of A reads only A's events.
    ra = await client.get("/v1/admin/analytics/overview", headers=a.admin)
    rb = await client.get("/v1/admin/analytics/overview", headers=b.admin)
    assert ra.json()["visitors"] == 1 and rb.json()["visitors"] == 1


async def test_one_bad_event_is_rejected_alone(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    result = await _send(
        shop,
        [
            {"event": "view", "distinct_id": "p1"},
            {"event": "", "distinct_id": "p1"},
            {"event": "view"},
            {"event": "view", "distinct_id": "p1", "time": "yesterday-ish"},
            "not an object",
            {"event": "view", "distinct_id": "p1", "properties": {"blob": "x" * 40_000}},
            {"event": "view", "distinct_id": "p1", "properties": ["not", "an", "object"]},
            {"event": "view", "distinct_id": "p2", "uuid": "same"},
            {"event": "view", "distinct_id": "p2", "uuid": "same"},
        ],
    )
    assert result["accepted"] == 3
    assert result["duplicates"] == 1
    codes = {r["index"]: r["code"] for r in result["rejected"]}
    assert codes == {
        1: "invalid_event",
        2: "invalid_distinct_id",
        3: "invalid_time",
        4: "invalid_event",
        5: "event_too_large",
        6: "invalid_properties",
    }
    # Acknowledged means queryable.
    assert await rt.analytics.store.count(shop.merchant_id) == 2
    for body in ("not json", "[]", '{"events": 3}'):
        r = await client.post(
            "/v1/ingest/batch",
            content=body,
            headers={"X-Ingest-Key": shop.ingest_key, "Content-Type": "application/json"},
        )
        assert r.status_code in (401, 422), r.text
    r = await client.post(
        "/v1/ingest/batch",
        content='{"events": 3}',
        headers={"X-Ingest-Key": shop.ingest_key, "Content-Type": "application/json"},
    )
    assert_error(r, 422, "invalid_batch")


async def test_an_alias_either_way_round_joins_the_member(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await shop.member("carol")
    carol = await _member_id(shop, "carol")
    await _send(
        shop,
        [
            # alias(previous_id="carol", distinct_id="crm-42"): the new id joins Carol.
            {"event": "$create_alias", "distinct_id": "crm-42", "properties": {"alias": "carol"}},
            {"event": "view", "distinct_id": "crm-42", "uuid": "e1"},
            {
                "event": "view",
                "distinct_id": "nested",
                "properties": {"deep": [[[[1]]]]},
                "uuid": "e2",
            },
        ],
    )
    people = await _people(shop)
    assert people["crm-42"] == (carol, carol)
    r = await client.post(
        "/v1/ingest/batch",
        content="[" * 100_000,
        headers={"X-Ingest-Key": shop.ingest_key, "Content-Type": "application/json"},
    )
    assert_error(r, 422, "invalid_batch")
    r = await client.post(
        "/v1/ingest/batch",
        content='{"events": [{"event": "view", "distinct_id": "n", "properties": {"x": NaN}}]}',
        headers={"X-Ingest-Key": shop.ingest_key, "Content-Type": "application/json"},
    )
    assert r.json()["rejected"][0]["code"] == "invalid_properties"
