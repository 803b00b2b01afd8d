"""Distribution (分销) through the API: binding by code at login, two levels of
commission on what was paid, settlement after completion, refunds, withdrawals."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx

from growthloop.campaigns.distribution import tasks as distribution
from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, assert_error, bearer, make_shop

SETTINGS = {"level1_percent": 10, "level2_percent": 5, "settle_days": 7, "min_withdrawal": 100}


async def _setup(shop: Shop, **overrides: Any) -> dict[str, Any]:
    r = await shop.client.put(
        "/v1/admin/distribution", json={**SETTINGS, **overrides}, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _login(shop: Shop, code: str, referrer_code: str | None = None) -> dict[str, str]:
    body = {"merchant_id": shop.merchant_id, "platform": "dev", "code": code}
    if referrer_code:
        body["referrer_code"] = referrer_code
    r = await shop.client.post("/v1/auth/login", json=body)
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


async def _code(shop: Shop, member: dict[str, str]) -> str:
    r = await shop.client.get("/v1/me/referral", headers=member)
    return str(r.json()["referrer_code"])


async def _stats(shop: Shop, member: dict[str, str]) -> dict[str, Any]:
    r = await shop.client.get("/v1/me/distribution", headers=member)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _commissions(shop: Shop, member: dict[str, str]) -> list[dict[str, Any]]:
    r = await shop.client.get("/v1/me/commissions", headers=member)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def _chain(shop: Shop) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """alice brought bob, bob brought carol."""
    alice = await _login(shop, "alice")
    bob = await _login(shop, "bob", await _code(shop, alice))
    carol = await _login(shop, "carol", await _code(shop, bob))
    return alice, bob, carol


async def test_two_levels_of_commission_from_payment_to_withdrawal(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop)
    alice, bob, carol = await _chain(shop)
    assert (await _stats(shop, alice))["team_level1"] == 1
    assert (await _stats(shop, alice))["team_level2"] == 1
    assert (await _stats(shop, carol))["bound_to_promoter"] is True

    # Carol pays 30.00 yuan after a 5-yuan coupon: commission is on what she paid.
    product = await shop.product(price=3500, stock=10, options=[])
    r = await client.post(
        "/v1/admin/coupons",
        json={"name": "5元券", "kind": "amount_off", "value": 500},
        headers=shop.admin,
    )
    template = r.json()
    coupon = (await client.post(f"/v1/coupons/{template['id']}/claim", headers=carol)).json()
    r = await shop.order(carol, product["id"], coupon_id=coupon["id"])
    assert r.status_code == 201 and r.json()["payable"] == 3000, r.text
    order = r.json()
    await shop.pay(carol, order["id"])
    [b1] = await _commissions(shop, bob)
    [a2] = await _commissions(shop, alice)
    assert (b1["level"], b1["amount"], b1["base_amount"], b1["status"]) == (1, 300, 3000, "frozen")
    assert (a2["level"], a2["amount"], a2["status"]) == (2, 150, "frozen")
    assert await _commissions(shop, carol) == []
    assert (await _stats(shop, bob))["available"] == 0

    # Settled seven days after the order completes, not before.
    r = await client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    assert r.status_code == 200, r.text
    clock.advance(days=6)
    assert await distribution.settle_due_commissions(rt.db, clock) == 0
    clock.advance(days=1, seconds=1)
    assert await distribution.settle_due_commissions(rt.db, clock) == 2
    assert await distribution.settle_due_commissions(rt.db, clock) == 0
    stats = await _stats(shop, bob)
    assert (stats["settled"], stats["available"], stats["frozen"]) == (300, 300, 0)

    # Withdrawals: at least the minimum, at most what is available.
    assert_error(
        await client.post("/v1/me/withdrawals", json={"amount": 99}, headers=bob),
        422,
        "below_minimum_withdrawal",
    )
    r = await client.post("/v1/me/withdrawals", json={"amount": 200}, headers=bob)
    assert r.status_code == 201 and r.json()["status"] == "requested", r.text
    first = r.json()
    assert_error(
        await client.post("/v1/me/withdrawals", json={"amount": 101}, headers=bob),
        409,
        "insufficient_commission",
    )
    await shop.relogin()
    r = await client.get(
        "/v1/admin/withdrawals", params={"status": "requested"}, headers=shop.admin
    )
    assert [w["id"] for w in r.json()["items"]] == [first["id"]]
    r = await client.post(
        f"/v1/admin/withdrawals/{first['id']}/reject", json={"note": "资料不全"}, headers=shop.admin
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    assert_error(
        await client.post(f"/v1/admin/withdrawals/{first['id']}/approve", headers=shop.admin),
        409,
        "withdrawal_decided",
    )
    bob = await _login(shop, "bob")
    assert (await _stats(shop, bob))["available"] == 300
    r = await client.post("/v1/me/withdrawals", json={"amount": 300}, headers=bob)
    second = r.json()
    r = await client.post(f"/v1/admin/withdrawals/{second['id']}/approve", headers=shop.admin)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    stats = await _stats(shop, bob)
    assert (stats["withdrawn"], stats["available"]) == (300, 0)


async def test_a_refund_cancels_the_commission(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop, settle_days=0)
    alice, bob, carol = await _chain(shop)
    product = await shop.product(price=2000, stock=10, options=[])
    frozen = await shop.paid_order(carol, product["id"])
    r = await client.post(f"/v1/orders/{frozen['id']}/refund", headers=carol)
    assert r.json()["status"] == "refunded", r.text
    assert [c["status"] for c in await _commissions(shop, bob)] == ["cancelled"]
    assert [c["status"] for c in await _commissions(shop, alice)] == ["cancelled"]

    # Settled, then refunded by the store: taken back out of the promoter's account.
    settled = await shop.paid_order(carol, product["id"])
    await client.post(f"/v1/admin/orders/{settled['id']}/complete", headers=shop.admin)
    assert await distribution.settle_due_commissions(rt.db, clock) == 2
    assert (await _stats(shop, bob))["available"] == 200
    r = await client.post(f"/v1/admin/orders/{settled['id']}/refund", headers=shop.admin)
    assert r.json()["status"] == "refunded", r.text
    stats = await _stats(shop, bob)
    assert (stats["available"], stats["settled"], stats["cancelled"]) == (0, 0, 400)


async def test_binding_rules(client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop, binding_days=10)
    alice, bob, carol = await _chain(shop)
    product = await shop.product(price=1000, stock=20, options=[])

    # Own code, and a code that would close a cycle (alice -> bob -> alice), bind nothing.
    alice = await _login(shop, "alice", await _code(shop, alice))
    alice = await _login(shop, "alice", await _code(shop, carol))
    assert (await _stats(shop, alice))["bound_to_promoter"] is False
    # The first binding wins: carol stays bob's while it lasts...
    carol = await _login(shop, "carol", await _code(shop, alice))
    await shop.paid_order(carol, product["id"])
    assert len(await _commissions(shop, bob)) == 1
    assert len(await _commissions(shop, alice)) == 1  # level 2, through bob
    # ...and after 10 days the binding lapses: no commission, and a new code binds.
    clock.advance(days=11)
    await shop.relogin()
    dave = await _login(shop, "dave")
    carol = await _login(shop, "carol")
    await shop.paid_order(carol, product["id"])
    assert len(await _commissions(shop, bob)) == 1
    carol = await _login(shop, "carol", await _code(shop, dave))
    await shop.paid_order(carol, product["id"])
    assert [c["level"] for c in await _commissions(shop, dave)] == [1]


async def test_concurrent_withdrawals_never_overdraw(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop, settle_days=0, level1_percent=50, level2_percent=0)
    alice = await _login(shop, "alice")
    bob = await _login(shop, "bob", await _code(shop, alice))
    product = await shop.product(price=600, stock=5, options=[])
    order = await shop.paid_order(bob, product["id"])
    await client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    await distribution.settle_due_commissions(rt.db, clock)
    assert (await _stats(shop, alice))["available"] == 300
    responses = await asyncio.gather(
        *(client.post("/v1/me/withdrawals", json={"amount": 100}, headers=alice) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [201] * 3 + [409] * 7
    stats = await _stats(shop, alice)
    assert (stats["withdrawn"], stats["available"]) == (300, 0)


async def test_bad_input_and_other_merchants(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    r = await client.get("/v1/admin/distribution", headers=shop.admin)
    assert (r.json()["enabled"], r.json()["updated_at"]) == (False, None)
    for bad in (
        {"level1_percent": 51},
        {"level1_percent": 30, "level2_percent": 30},
        {"level1_percent": 10.5},
        {"settle_days": -1},
        {"binding_days": 0},
        {"min_withdrawal": 0},
        {"level3_percent": 1},
    ):
        r = await client.put("/v1/admin/distribution", json={**SETTINGS, **bad}, headers=shop.admin)
        assert_error(r, 422)
    member = await _login(shop, "zoe")
    assert_error(
        await client.post("/v1/me/withdrawals", json={"amount": 100}, headers=member),
        409,
        "distribution_off",
    )
    await _setup(shop)
    for bad_body in ({"amount": 0}, {"amount": 1.5}, {"amount": "100"}, {}):
        assert_error(await client.post("/v1/me/withdrawals", json=bad_body, headers=member), 422)
    assert_error(
        await client.post("/v1/me/withdrawals", json={"amount": 100}, headers=member),
        409,
        "insufficient_commission",
    )
    other = await make_shop(client, rt, "别家")
    await _setup(other)
    stranger = await _login(other, "stranger", await _code(shop, member))  # a code of another shop
    assert (await _stats(other, stranger))["bound_to_promoter"] is False
    # Another merchant's withdrawal: 403; an unknown one: 404.
    alice = await _login(shop, "alice")
    bob = await _login(shop, "bob", await _code(shop, alice))
    await _setup(shop, settle_days=0)
    product = await shop.product(price=5000, stock=5, options=[])
    order = await shop.paid_order(bob, product["id"])
    await client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    await distribution.settle_due_commissions(rt.db, shop.rt.clock)
    w = (await client.post("/v1/me/withdrawals", json={"amount": 100}, headers=alice)).json()
    assert_error(
        await client.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=other.admin), 403
    )
    assert_error(
        await client.post(
            "/v1/admin/withdrawals/01ARZ3NDEKTSV4RRFFQ69G5FAV/approve", headers=shop.admin
        ),
        404,
    )


async def _member(shop: Shop, code: str, referrer_code: str | None = None) -> dict[str, Any]:
    body = {"merchant_id": shop.merchant_id, "platform": "dev", "code": code}
    if referrer_code:
        body["referrer_code"] = referrer_code
    r = await shop.client.post("/v1/auth/login", json=body)
    assert r.status_code == 200, r.text
    return {"id": r.json()["member_id"], "headers": bearer(r.json()["token"])}


async def _referral(shop: Shop, member: dict[str, Any]) -> dict[str, Any]:
    r = await shop.client.get("/v1/me/referral", headers=member["headers"])
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_the_referral_shows_the_binding_that_earns_commissions(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    """Issue 12, point 16: a member bound to a promoter at a later login shows that
    promoter as `referred_by`, with the binding's dates; who invited them at sign-up stays
    visible as `invited_by`."""
    shop = await make_shop(client, rt)
    await _setup(shop, binding_days=30)
    alice = await _member(shop, "alice")
    bob = await _member(shop, "bob")
    alice_code = (await _referral(shop, alice))["referrer_code"]
    bob_code = (await _referral(shop, bob))["referrer_code"]
    start = clock.now()

    # Carol signed up with no code; a later login with bob's link binds her to bob.
    carol = await _member(shop, "carol")
    carol_code = (await _referral(shop, carol))["referrer_code"]
    assert await _referral(shop, carol) == {
        "referrer_code": carol_code,
        "invited_count": 0,
        "referred_by": None,
        "invited_by": None,
        "bound_to_promoter": False,
        "bound_at": None,
        "binding_expires_at": None,
    }
    clock.advance(hours=1)
    await _member(shop, "carol", bob_code)
    assert (await _stats(shop, carol["headers"]))["bound_to_promoter"] is True
    bound_at = start + timedelta(hours=1)
    assert await _referral(shop, carol) == {
        "referrer_code": carol_code,
        "invited_count": 0,
        "referred_by": bob["id"],
        "invited_by": None,
        "bound_to_promoter": True,
        "bound_at": _iso(bound_at),
        "binding_expires_at": _iso(bound_at + timedelta(days=30)),
    }
    # The promoter shown is the one the commission goes to.
    product = await shop.product(price=2000, stock=10, options=[])
    await shop.paid_order(carol["headers"], product["id"])
    assert [(c["level"], c["amount"]) for c in await _commissions(shop, bob["headers"])] == [
        (1, 200)
    ]
    assert await _commissions(shop, alice["headers"]) == []

    # Dave signed up with alice's code (invited by her, and bound to her); once that
    # binding lapses, bob's link binds him to bob: bob earns, alice stays his inviter.
    dave = await _member(shop, "dave", alice_code)
    dave_code = (await _referral(shop, dave))["referrer_code"]
    signed_up = clock.now()
    assert await _referral(shop, dave) == {
        "referrer_code": dave_code,
        "invited_count": 0,
        "referred_by": alice["id"],
        "invited_by": alice["id"],
        "bound_to_promoter": True,
        "bound_at": _iso(signed_up),
        "binding_expires_at": _iso(signed_up + timedelta(days=30)),
    }
    clock.advance(days=31)
    await shop.relogin()
    alice, bob, dave = [await _member(shop, code) for code in ("alice", "bob", "dave")]
    # Lapsed: no binding earns; the inviter is still who referred him.
    lapsed = await _referral(shop, dave)
    assert (lapsed["referred_by"], lapsed["invited_by"], lapsed["bound_to_promoter"]) == (
        alice["id"],
        alice["id"],
        False,
    )
    assert (lapsed["bound_at"], lapsed["binding_expires_at"]) == (None, None)
    await _member(shop, "dave", bob_code)
    rebound = clock.now()
    assert await _referral(shop, dave) == {
        "referrer_code": dave_code,
        "invited_count": 0,
        "referred_by": bob["id"],
        "invited_by": alice["id"],
        "bound_to_promoter": True,
        "bound_at": _iso(rebound),
        "binding_expires_at": _iso(rebound + timedelta(days=30)),
    }
    await shop.paid_order(dave["headers"], product["id"])
    assert [c["amount"] for c in await _commissions(shop, bob["headers"])] == [200, 200]
    assert await _commissions(shop, alice["headers"]) == []
    # Alice invited dave at sign-up: her count is of sign-ups with her code.
    assert (await _referral(shop, alice))["invited_count"] == 1


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
