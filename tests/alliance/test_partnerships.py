"""Partnerships: proposed by one merchant, accepted by the other, suspended by either;
visible to both sides and to nobody else; every action in the audit log."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from growthloop.core.audit import AuditEntry
from growthloop.core.runtime import Runtime
from tests.alliance.support import (
    PARTNERSHIPS,
    accept,
    by_unionid,
    exchange,
    give_points,
    propose,
    terms,
)
from tests.helpers import assert_error, make_shop


async def test_lifecycle(client: httpx.AsyncClient, rt: Runtime) -> None:
    a = await make_shop(client, rt, "甲")
    b = await make_shop(client, rt, "乙")
    c = await make_shop(client, rt, "丙")
    alice = await by_unionid(a, b, "alice")
    await give_points(rt, a, alice.a_id, 1000, "gift:alice")

    p = await propose(a, b, rate={"points": 20, "partner_points": 6}, member_daily_cap=500)
    assert p["status"] == "pending"
    assert p["rate"] == {"points": 10, "partner_points": 3}  # kept reduced
    assert p["merchant_id"] == a.merchant_id and p["partner_merchant_id"] == b.merchant_id
    assert p["counterparty_merchant_id"] == b.merchant_id
    path = f"{PARTNERSHIPS}/{p['id']}"

    # Both sides see it; a third merchant is refused, an unknown id is not found.
    for shop, other in ((a, b), (b, a)):
        r = await client.get(path, headers=shop.admin)
        assert r.status_code == 200 and r.json()["counterparty_merchant_id"] == other.merchant_id
        listed = (await client.get(PARTNERSHIPS, headers=shop.admin)).json()["items"]
        assert [x["id"] for x in listed] == [p["id"]]
    assert (await client.get(PARTNERSHIPS, headers=c.admin)).json()["items"] == []
    for action in ("", "/accept", "/suspend", "/resume", "/end", "/settlement"):
        method = client.get if action in ("", "/settlement") else client.post
        assert_error(await method(path + action, headers=c.admin), 403, "forbidden")
        r = await method(f"{PARTNERSHIPS}/01ARZ3NDEKTSV4RRFFQ69G5FAV{action}", headers=a.admin)
        assert_error(r, 404, "partnership_not_found")

    # Pending: no exchange; the proposer cannot accept its own proposal.
    assert_error(await exchange(client, alice.a, p["id"], 10), 409, "partnership_not_active")
    assert_error(await client.post(path + "/accept", headers=a.admin), 409, "awaiting_partner")
    assert_error(
        await client.post(path + "/suspend", headers=b.admin), 409, "partnership_state_conflict"
    )
    active = await accept(b, p["id"])
    assert active["status"] == "active" and active["accepted_at"] is not None
    assert_error(
        await client.post(path + "/accept", headers=b.admin), 409, "partnership_state_conflict"
    )
    assert (await exchange(client, alice.a, p["id"], 10)).status_code == 201

    # Either side suspends; only that side resumes.
    r = await client.post(path + "/suspend", headers=b.admin)
    assert r.status_code == 200 and r.json()["suspended_by"] == b.merchant_id
    assert_error(await exchange(client, alice.a, p["id"], 10), 409, "partnership_not_active")
    assert_error(await exchange(client, alice.b, p["id"], 3), 409, "partnership_not_active")
    assert_error(await client.post(path + "/resume", headers=a.admin), 409, "suspended_by_partner")
    r = await client.post(path + "/resume", headers=b.admin)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert r.json()["suspended_by"] is None
    assert (await exchange(client, alice.a, p["id"], 10)).status_code == 201

    # One open partnership per pair, whoever proposes; ending frees the pair.
    r = await client.post(PARTNERSHIPS, json=terms(a), headers=b.admin)
    error = assert_error(r, 409, "partnership_exists")
    assert error["details"]["partnership_id"] == p["id"]
    r = await client.post(path + "/end", headers=a.admin)
    assert r.status_code == 200 and r.json()["status"] == "ended"
    assert_error(await exchange(client, alice.a, p["id"], 10), 409, "partnership_not_active")
    assert_error(
        await client.post(path + "/resume", headers=a.admin), 409, "partnership_state_conflict"
    )
    again = await propose(b, a)
    assert again["merchant_id"] == b.merchant_id and again["status"] == "pending"
    r = await client.get(PARTNERSHIPS, params={"status": "ended"}, headers=b.admin)
    assert [x["id"] for x in r.json()["items"]] == [p["id"]]

    async with rt.db.unit_of_work(write=False) as uow:
        rows = (
            await uow.session.execute(
                select(AuditEntry.merchant_id, AuditEntry.action)
                .where(AuditEntry.subject_type == "alliance_partnership")
                .order_by(AuditEntry.created_at, AuditEntry.id)
            )
        ).all()
    assert [(m, act.removeprefix("alliance.partnership.")) for m, act in rows] == [
        (a.merchant_id, "propose"),
        (b.merchant_id, "accept"),
        (b.merchant_id, "suspend"),
        (b.merchant_id, "resume"),
        (a.merchant_id, "end"),
        (b.merchant_id, "propose"),
    ]


async def test_bad_proposals(client: httpx.AsyncClient, rt: Runtime) -> None:
    a = await make_shop(client, rt, "甲")
    b = await make_shop(client, rt, "乙")
    assert_error(await client.post(PARTNERSHIPS, json=terms(a), headers=a.admin), 422)
    r = await client.post(
        PARTNERSHIPS,
        json={**terms(b), "partner_merchant_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
        headers=a.admin,
    )
    assert_error(r, 404, "merchant_not_found")
    bad = [
        {"rate": {"points": 0, "partner_points": 3}},
        {"rate": {"points": 10}},
        {"rate": {"points": 1.5, "partner_points": 3}},
        {"daily_cap": 0},
        {"daily_cap": "100"},
        {"member_daily_cap": 200_000},  # above daily_cap
        {"settlement_price": {"fen": -1, "points": 100}},
        {"settlement_price": {"fen": 5, "points": 0}},
        {"extra": 1},
    ]
    for override in bad:
        r = await client.post(PARTNERSHIPS, json=terms(b, **override), headers=a.admin)
        assert_error(r, 422, "invalid_input")
    staff = await a.staff("analyst")
    r = await client.post(PARTNERSHIPS, json=terms(b), headers=staff)
    assert_error(r, 403, "forbidden")
    for shop in (a, b):
        assert (await client.get(PARTNERSHIPS, headers=shop.admin)).json()["items"] == []
