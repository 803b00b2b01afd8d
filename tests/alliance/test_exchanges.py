"""Exchanges: one step that spends at the source, grants at the partner, and records the
exchange and its settlement entry; refused requests write nothing on either side."""

from __future__ import annotations

from typing import Any

import httpx

from growthloop.core.runtime import Runtime
from tests.alliance.support import (
    EXCHANGES,
    alliance,
    by_phone,
    by_unionid,
    counts,
    exchange,
    give_points,
    points,
)
from tests.helpers import assert_error, make_shop


async def _ledger(client: httpx.AsyncClient, member: dict[str, str]) -> list[dict[str, Any]]:
    r = await client.get("/v1/me/points/ledger", params={"limit": 100}, headers=member)
    return r.json()["items"]  # type: ignore[no-any-return]


async def test_exchange_moves_points_on_both_ledgers(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    a, b, p = await alliance(client, rt)  # 10 of A's points <-> 3 of B's
    alice = await by_unionid(a, b, "alice")
    bob = await by_phone(a, b, "bob", "13800138000")
    await give_points(rt, a, alice.a_id, 500, "gift:alice")
    await give_points(rt, b, bob.b_id, 90, "gift:bob")

    r = await exchange(client, alice.a, p["id"], 200)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["points_out"] == 200 and out["points_in"] == 60
    assert out["direction"] == "out" and out["balance_after"] == 300
    assert out["merchant_id"] == a.merchant_id and out["partner_merchant_id"] == b.merchant_id
    assert await points(client, alice.a) == 300
    assert await points(client, alice.b) == 60
    (spent,) = [e for e in await _ledger(client, alice.a) if e["reason"] == "alliance_out"]
    (granted,) = await _ledger(client, alice.b)
    assert (spent["delta"], spent["ref"]) == (-200, out["id"])
    assert (granted["delta"], granted["reason"], granted["ref"]) == (60, "alliance_in", out["id"])

    # The way back is the inverse rate: 3 of B's give 10 of A's, so 60 give back exactly 200.
    r = await exchange(client, alice.b, p["id"], 60)
    assert r.status_code == 201, r.text
    assert (r.json()["points_out"], r.json()["points_in"]) == (60, 200)
    assert await points(client, alice.a) == 500 and await points(client, alice.b) == 0

    # Linked by verified phone only, from the partner's side.
    r = await exchange(client, bob.b, p["id"], 90)
    assert r.status_code == 201, r.text
    assert r.json()["points_in"] == 300 and r.json()["partner_merchant_id"] == a.merchant_id
    assert await points(client, bob.b) == 0 and await points(client, bob.a) == 300

    # Each member sees what they sent and what arrived, newest first.
    r = await client.get(EXCHANGES, headers=alice.a)
    assert [(x["direction"], x["points_out"]) for x in r.json()["items"]] == [
        ("in", 60),
        ("out", 200),
    ]
    r = await client.get(EXCHANGES, params={"limit": 1}, headers=alice.b)
    page = r.json()
    assert [x["direction"] for x in page["items"]] == ["out"] and page["next_cursor"]
    r = await client.get(EXCHANGES, params={"cursor": page["next_cursor"]}, headers=alice.b)
    assert [x["id"] for x in r.json()["items"]] == [out["id"]]
    assert [
        x["direction"] for x in (await client.get(EXCHANGES, headers=bob.a)).json()["items"]
    ] == ["in"]


async def test_partners_list(client: httpx.AsyncClient, rt: Runtime) -> None:
    a, b, p = await alliance(client, rt, daily_cap=1000, member_daily_cap=300)
    c = await make_shop(client, rt, "丙")
    pending = (
        await client.post(
            "/v1/admin/alliance/partnerships",
            json={
                "partner_merchant_id": c.merchant_id,
                "rate": {"points": 1, "partner_points": 1},
                "daily_cap": 10,
                "settlement_price": {"fen": 1, "points": 1},
            },
            headers=a.admin,
        )
    ).json()
    assert pending["status"] == "pending"
    alice = await by_unionid(a, b, "alice")
    stranger = await a.member("stranger")
    await give_points(rt, a, alice.a_id, 500, "gift:alice")
    assert (await exchange(client, alice.a, p["id"], 100)).status_code == 201

    r = await client.get("/v1/me/alliance/partners", headers=alice.a)
    assert r.json() == [
        {
            "partnership_id": p["id"],
            "partner_merchant_id": b.merchant_id,
            "partner_name": r.json()[0]["partner_name"],
            "points": 10,
            "partner_points": 3,
            "linked": True,
            "daily_remaining": 900,
            "member_daily_remaining": 200,
        }
    ]
    assert r.json()[0]["partner_name"].startswith("乙书店")
    (mine,) = (await client.get("/v1/me/alliance/partners", headers=stranger)).json()
    assert mine["linked"] is False and mine["member_daily_remaining"] == 300
    (theirs,) = (await client.get("/v1/me/alliance/partners", headers=alice.b)).json()
    assert (theirs["points"], theirs["partner_points"], theirs["linked"]) == (3, 10, True)
    assert theirs["daily_remaining"] == 1000  # caps are per direction


async def test_refused_exchanges_write_nothing(client: httpx.AsyncClient, rt: Runtime) -> None:
    a, b, p = await alliance(client, rt, daily_cap=1000, member_daily_cap=200)
    c = await make_shop(client, rt, "丙")
    alice = await by_unionid(a, b, "alice")
    loner = await a.member("loner")
    outsider = await c.member("outsider|union-alice")  # same person, but C is no partner
    await give_points(rt, a, alice.a_id, 150, "gift:alice")
    await give_points(rt, b, alice.b_id, 30, "gift:alice-b")
    loner_id = (await client.get("/v1/me", headers=loner)).json()["id"]
    await give_points(rt, a, loner_id, 100, "gift:loner")
    before = await counts(rt)
    balances = [await points(client, m) for m in (alice.a, alice.b, loner)]

    async def refused(member: dict[str, str], body: Any, status: int, code: str) -> dict[str, Any]:
        r = await client.post(EXCHANGES, json=body, headers=member)
        return assert_error(r, status, code)

    pid = p["id"]
    await refused(loner, {"partnership_id": pid, "points": 10}, 409, "no_linked_member")
    await refused(outsider, {"partnership_id": pid, "points": 10}, 403, "forbidden")
    missing = {"partnership_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "points": 10}
    await refused(alice.a, missing, 404, "partnership_not_found")
    for n, nearest in ((15, 10), (17, 20), (3, 10), (101, 100)):
        error = await refused(
            alice.a, {"partnership_id": pid, "points": n}, 422, "points_not_convertible"
        )
        assert error["details"]["nearest_valid_points"] == nearest
        assert error["details"]["step"] == 10
    error = await refused(
        alice.b, {"partnership_id": pid, "points": 4}, 422, "points_not_convertible"
    )
    assert error["details"]["nearest_valid_points"] == 3
    for n in (0, -10, 10.0, "10", None, 10**12):
        await refused(alice.a, {"partnership_id": pid, "points": n}, 422, "invalid_input")
    await refused(alice.a, {"partnership_id": pid}, 422, "invalid_input")
    await refused(alice.a, {"partnership_id": pid, "points": 10, "to": "x"}, 422, "invalid_input")
    await refused(alice.a, {"partnership_id": pid, "points": 160}, 409, "insufficient_points")
    await refused(alice.b, {"partnership_id": pid, "points": 33}, 409, "insufficient_points")
    # Above the member's daily cap in one go (the balance would allow it at B's rate).
    await give_points(rt, a, alice.a_id, 100, "gift:alice-more")
    before = await counts(rt)
    balances[0] = await points(client, alice.a)
    error = await refused(
        alice.a, {"partnership_id": pid, "points": 210}, 409, "member_daily_cap_reached"
    )
    assert error["details"]["remaining"] == 200
    r = await client.post(EXCHANGES, json={"partnership_id": pid, "points": 10})
    assert_error(r, 401)

    assert await counts(rt) == before
    assert [await points(client, m) for m in (alice.a, alice.b, loner)] == balances
    assert (await client.get(EXCHANGES, headers=alice.a)).json()["items"] == []
    assert (await client.get(EXCHANGES, headers=alice.b)).json()["items"] == []


async def test_idempotency_key_replays_one_exchange(client: httpx.AsyncClient, rt: Runtime) -> None:
    a, b, p = await alliance(client, rt)
    alice = await by_unionid(a, b, "alice")
    await give_points(rt, a, alice.a_id, 1000, "gift:alice")
    key = {"Idempotency-Key": "exchange-once"}
    first = await exchange(client, alice.a, p["id"], 100, **key)
    assert first.status_code == 201, first.text
    again = await exchange(client, alice.a, p["id"], 100, **key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    r = await exchange(client, alice.a, p["id"], 200, **key)  # same key, another request
    assert_error(r, 422, "idempotency_key_reused")
    assert await points(client, alice.a) == 900 and await points(client, alice.b) == 30
    assert len((await client.get(EXCHANGES, headers=alice.a)).json()["items"]) == 1
