"""Membership as a member lives it: check in, buy, earn on completion, climb, refund."""

from __future__ import annotations

import asyncio

import httpx

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, assert_error, make_shop

PROGRAM = {
    "points_per_yuan": 1,
    "points_expire_days": 365,
    "welcome_points": 50,
    "checkin_points": [5, 5, 5, 5, 5, 5, 20],
    "tiers": [
        {"name": "普通会员"},
        {"name": "白银会员", "min_spend": 20000, "min_login_days": 10, "discount_percent": 5},
        {
            "name": "黄金会员",
            "min_spend": 100000,
            "min_invites": 3,
            "discount_percent": 10,
            "points_multiplier_percent": 150,
        },
    ],
}


async def _program(shop: Shop) -> None:
    r = await shop.client.put("/v1/admin/loyalty/program", json=PROGRAM, headers=shop.admin)
    assert r.status_code == 200, r.text


async def _membership(shop: Shop, member: dict[str, str]) -> dict[str, object]:
    return (await shop.client.get("/v1/me/membership", headers=member)).json()  # type: ignore[no-any-return]


async def test_defaults_before_any_programme(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    m = await _membership(shop, member)
    assert (m["tier"], m["points"], m["growth"]) == ("普通会员", 0, 0)
    assert m["next_tier"] is None


async def test_checkin_streak_and_day_seven_bonus(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await _program(shop)
    member = await shop.member()
    awarded = []
    for _day in range(8):
        r = await client.post("/v1/me/checkin", headers=member)
        assert r.status_code == 200, r.text
        awarded.append((r.json()["streak"], r.json()["points_awarded"]))
        assert_error(await client.post("/v1/me/checkin", headers=member), 409, "already_checked_in")
        clock.advance(days=1)
    assert awarded == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5), (6, 5), (7, 20), (8, 5)]
    clock.advance(days=1)  # a day missed: the streak starts again
    assert (await client.post("/v1/me/checkin", headers=member)).json()["streak"] == 1
    m = await _membership(shop, member)
    assert m["points"] == 5 * 7 + 20 + 5
    assert m["login_days"] == 9  # 9 distinct days; the first login shares day one


async def test_checkin_day_is_the_merchants_day(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    clock.advance(hours=13, minutes=59)  # 2026-03-02 23:59 in Shanghai
    assert (await client.post("/v1/me/checkin", headers=member)).status_code == 200
    clock.advance(minutes=2)  # 00:01 on 3 March in Shanghai, still 2 March in UTC
    r = await client.post("/v1/me/checkin", headers=member)
    assert r.status_code == 200 and r.json()["streak"] == 2


async def test_concurrent_checkins_award_once(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    responses = await asyncio.gather(
        *(client.post("/v1/me/checkin", headers=member) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    ledger = (await client.get("/v1/me/points/ledger", headers=member)).json()["items"]
    assert [e["reason"] for e in ledger] == ["checkin"]


async def test_earn_on_completion_climb_and_refund(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await _program(shop)
    product = await shop.product(price=12000, stock=10)  # 120 yuan
    member = await shop.member()
    order = await shop.paid_order(member, product["id"], quantity=2)  # 240 yuan
    m = await _membership(shop, member)
    # 支付即会员: paying enrols and grants the welcome gift; order points wait for completion.
    assert m["enrolled_at"] is not None and m["points"] == 50
    await client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    m = await _membership(shop, member)
    assert m["points"] == 50 + 240 and m["growth"] == 24000
    assert m["tier"] == "白银会员"
    assert m["benefits"] == {
        "discount_percent": 5,
        "points_multiplier_percent": 100,
        "free_delivery": False,
        "birthday_points": 0,
    }
    assert m["next_tier"] == {"name": "黄金会员", "missing": {"spend": 76000, "invites": 3}}

    ledger = (await client.get("/v1/me/points/ledger", headers=member)).json()["items"]
    assert [(e["reason"], e["delta"], e["balance_after"]) for e in ledger] == [
        ("order_earn", 240, 290),
        ("welcome", 50, 50),
    ]
    assert ledger[0]["ref"] == order["id"] and ledger[0]["expires_at"] is not None

    r = await client.post(f"/v1/admin/orders/{order['id']}/refund", headers=shop.admin)
    assert r.json()["status"] == "refunded"
    m = await _membership(shop, member)
    assert m["points"] == 50 and m["growth"] == 0
    assert m["tier"] == "白银会员"  # tiers are not lost (downgrade policy: never)
    ledger = (await client.get("/v1/me/points/ledger", headers=member)).json()["items"]
    assert (ledger[0]["reason"], ledger[0]["delta"]) == ("refund_reversal", -240)


async def test_program_validation(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    bad = [
        {**PROGRAM, "points_per_yuan": -1},
        {**PROGRAM, "points_per_yuan": 1.5},
        {**PROGRAM, "tiers": []},
        {**PROGRAM, "tiers": [{"name": "a"}, {"name": "a", "min_spend": 1}]},
        {**PROGRAM, "tiers": [{"name": "a"}, {"name": "b"}]},
        {**PROGRAM, "tiers": [{"name": "a", "discount_percent": 95}]},
        {**PROGRAM, "max_points_percent": 101},
        {**PROGRAM, "points_expire_on": "12-31"},  # and points_expire_days: one or the other
        {**PROGRAM, "points_expire_days": None, "points_expire_on": "02-29"},
        {**PROGRAM, "points_expire_days": None, "points_expire_on": "04-31"},
        {**PROGRAM, "points_expire_days": None, "points_expire_on": "2026-12-31"},
        {**PROGRAM, "downgrade_policy": "periodic"},  # without review_days
        {**PROGRAM, "review_days": 90},  # without the periodic policy
        {**PROGRAM, "downgrade_policy": "sometimes", "review_days": 90},
    ]
    for body in bad:
        assert_error(
            await client.put("/v1/admin/loyalty/program", json=body, headers=shop.admin), 422
        )
    r = await client.get("/v1/admin/loyalty/program", headers=shop.admin)
    assert r.json()["tiers"] == [
        {
            "name": "普通会员",
            "min_spend": None,
            "min_login_days": None,
            "min_invites": None,
            "discount_percent": 0,
            "points_multiplier_percent": 100,
            "free_delivery": False,
            "birthday_points": 0,
        }
    ]
    analyst = await shop.staff("analyst")
    assert_error(await client.put("/v1/admin/loyalty/program", json=PROGRAM, headers=analyst), 403)


async def test_points_expire_after_their_batch_period(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    program = {**PROGRAM, "points_expire_days": 30, "checkin_points": [100]}
    assert (
        await client.put("/v1/admin/loyalty/program", json=program, headers=shop.admin)
    ).status_code == 200
    member = await shop.member("expiring")
    await client.post("/v1/me/checkin", headers=member)  # 100 points, expire in 30 days
    clock.advance(days=20)
    await client.post("/v1/me/checkin", headers=member)  # 100 more, expire on day 50
    clock.advance(days=10, seconds=1)
    handled = await rt.sweeper.run_once()
    assert handled["loyalty.expire"] == 1
    assert (await rt.sweeper.run_once())["loyalty.expire"] == 0  # idempotent
    member = await shop.member("expiring")  # 30 days on, the old token has expired
    ledger = (await client.get("/v1/me/points/ledger", headers=member)).json()["items"]
    assert (ledger[0]["reason"], ledger[0]["delta"], ledger[0]["balance_after"]) == (
        "expire",
        -100,
        100,
    )
    assert (await _membership(shop, member))["points"] == 100


async def test_paying_without_consent_makes_no_one_a_member(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await _program(shop)
    product = await shop.product(price=12000, stock=10)
    member = await shop.member("undecided", join=False)
    order = await shop.paid_order(member, product["id"])  # ordering never needs membership
    await client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    m = await _membership(shop, member)
    assert (m["enrolled_at"], m["points"], m["growth"]) == (None, 0, 0)
    assert_error(await client.post("/v1/me/checkin", headers=member), 409)

    r = await client.put("/v1/me/consents", json={"membership": True}, headers=member)
    assert r.status_code == 200, r.text
    await shop.paid_order(member, product["id"])  # the next paid order enrols
    m = await _membership(shop, member)
    assert m["enrolled_at"] is not None and m["points"] == 50  # the welcome gift
    assert (await client.post("/v1/me/checkin", headers=member)).status_code == 200
