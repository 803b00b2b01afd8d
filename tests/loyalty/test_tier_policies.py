"""Programme rules over time: periodic tier reviews, a fixed yearly expiry date, birthday gifts
and invitations counting towards tiers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from growthloop.core.clock import FrozenClock
from growthloop.core.events import emit
from growthloop.core.runtime import Runtime
from growthloop.identity.events import MemberBirthday
from tests.helpers import Shop, make_shop

TIERS = [
    {"name": "普通会员"},
    {"name": "白银会员", "min_spend": 20000, "birthday_points": 200},
    {"name": "黄金会员", "min_spend": 100000, "min_invites": 3, "birthday_points": 500},
]


async def _setup(shop: Shop, **program: Any) -> None:
    body = {"points_per_yuan": 1, "welcome_points": 0, "tiers": TIERS, **program}
    r = await shop.client.put("/v1/admin/loyalty/program", json=body, headers=shop.admin)
    assert r.status_code == 200, r.text


async def _membership(shop: Shop, member: dict[str, str]) -> dict[str, Any]:
    r = await shop.client.get("/v1/me/membership", headers=member)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _member_id(shop: Shop, member: dict[str, str]) -> str:
    r = await shop.client.get("/v1/me", headers=member)
    return str(r.json()["id"])


async def _buy_and_complete(shop: Shop, member: dict[str, str], price: int) -> None:
    await shop.relogin()
    product = await shop.product(price=price, stock=5, options=[])
    order = await shop.paid_order(member, product["id"])
    r = await shop.client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    assert r.status_code == 200, r.text


async def _birthday(rt: Runtime, shop: Shop, member_id: str, *, year: int, day: str) -> None:
    async with rt.db.unit_of_work() as uow:
        event = MemberBirthday(
            merchant_id=shop.merchant_id, member_id=member_id, year=year, day=day
        )
        await emit(uow.session, event)


async def test_periodic_review_moves_tiers_down_and_up(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop, downgrade_policy="periodic", review_days=90)
    member = await shop.member("reviewed")
    await _buy_and_complete(shop, member, 24000)
    m = await _membership(shop, member)
    assert m["tier"] == "白银会员"
    review_at = datetime.fromisoformat(m["tier_review_at"])
    assert (review_at - clock.now()).days == 90

    clock.advance(days=60)
    member = await shop.member("reviewed")  # tokens last 30 days
    await _buy_and_complete(shop, member, 3000)  # not enough on its own for 白银
    assert (await rt.sweeper.run_once())["loyalty.tier_review"] == 0  # period not over
    m = await _membership(shop, member)
    assert (m["tier"], m["growth"]) == ("白银会员", 27000)  # the window still holds both

    clock.advance(days=31)  # the review is due; the 240-yuan order has left the window
    assert (await rt.sweeper.run_once())["loyalty.tier_review"] == 1
    member = await shop.member("reviewed")
    m = await _membership(shop, member)
    assert (m["tier"], m["growth"]) == ("普通会员", 3000)
    assert m["next_tier"] == {"name": "白银会员", "missing": {"spend": 17000}}
    assert (await rt.sweeper.run_once())["loyalty.tier_review"] == 0  # a new period began

    await _buy_and_complete(shop, member, 100000)  # upgrades happen at once
    m = await _membership(shop, member)
    assert m["tier"] == "黄金会员"
    assert datetime.fromisoformat(m["tier_review_at"]) > clock.now()


async def test_never_policy_keeps_the_tier(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop)
    member = await shop.member("kept")
    await _buy_and_complete(shop, member, 24000)
    clock.advance(days=400)
    await rt.sweeper.run_once()
    member = await shop.member("kept")
    m = await _membership(shop, member)
    assert (m["tier"], m["tier_review_at"]) == ("白银会员", None)


async def test_switching_to_periodic_starts_a_period_for_existing_members(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop)
    member = await shop.member("switch")
    await _buy_and_complete(shop, member, 24000)
    clock.advance(days=200)
    await shop.relogin()
    await _setup(shop, downgrade_policy="periodic", review_days=30)
    member = await shop.member("switch")
    m = await _membership(shop, member)
    assert m["tier"] == "白银会员"  # kept until the first review
    assert datetime.fromisoformat(m["tier_review_at"]) > clock.now()
    clock.advance(days=30)
    assert (await rt.sweeper.run_once())["loyalty.tier_review"] == 1
    member = await shop.member("switch")
    assert (await _membership(shop, member))["tier"] == "普通会员"


async def test_points_expire_on_a_fixed_date_the_year_after(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop, points_expire_on="12-31", checkin_points=[100])
    member = await shop.member("yearly")
    assert (await client.post("/v1/me/checkin", headers=member)).status_code == 200
    entry = (await client.get("/v1/me/points/ledger", headers=member)).json()["items"][0]
    # Earned in 2026 (Shanghai): expires at the end of 2027-12-31 Shanghai time.
    expires = datetime.fromisoformat(entry["expires_at"])
    assert expires == datetime(2027, 12, 31, 16, 0, tzinfo=UTC)
    clock.advance(days=(expires - clock.now()).days)
    clock.advance(seconds=(expires - clock.now()).total_seconds() - 1)
    assert (await rt.sweeper.run_once())["loyalty.expire"] == 0
    clock.advance(seconds=2)
    assert (await rt.sweeper.run_once())["loyalty.expire"] == 1
    member = await shop.member("yearly")
    assert (await _membership(shop, member))["points"] == 0


async def test_birthday_gift_follows_the_tier_once_a_year(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop)
    member = await shop.member("birthday")
    await _buy_and_complete(shop, member, 24000)  # enrolled, 白银
    member_id = await _member_id(shop, member)
    for _ in range(2):  # a repeated event gives nothing twice
        await _birthday(rt, shop, member_id, year=2026, day="2026-03-02")
    m = await _membership(shop, member)
    assert m["points"] == 240 + 200
    ledger = (await client.get("/v1/me/points/ledger", headers=member)).json()["items"]
    assert [(e["reason"], e["delta"]) for e in ledger[:1]] == [("birthday", 200)]

    stranger = await shop.member("not-enrolled")  # never paid: not in the programme
    stranger_id = await _member_id(shop, stranger)
    await _birthday(rt, shop, stranger_id, year=2026, day="2026-03-02")
    assert (await _membership(shop, stranger))["points"] == 0


async def test_invitations_count_towards_tiers(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop)
    inviter = await shop.member("inviter")
    code = (await client.get("/v1/me/referral", headers=inviter)).json()["referrer_code"]
    for n in range(3):  # friends who sign up with the inviter's code
        r = await client.post(
            "/v1/auth/login",
            json={
                "merchant_id": shop.merchant_id,
                "platform": "dev",
                "code": f"friend-{n}",
                "referrer_code": code,
            },
        )
        assert r.status_code == 200 and r.json()["is_new"], r.text
    await shop.member("friend-0")  # logging in again is not a new invitation
    m = await _membership(shop, inviter)
    assert (m["invites"], m["tier"]) == (3, "黄金会员")


async def test_entering_the_base_tier_is_not_an_upgrade(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await _setup(shop)
    r = await client.post(
        "/v1/admin/coupons",
        json={
            "name": "升级礼",
            "kind": "amount_off",
            "value": 500,
            "auto_issue": "tier_upgrade",
            "per_member_limit": 5,
        },
        headers=shop.admin,
    )
    assert r.status_code == 201, r.text
    member = await shop.member("climber")
    await client.post("/v1/me/checkin", headers=member)  # a login day: the base tier
    assert (await _membership(shop, member))["tier"] == "普通会员"
    assert (await client.get("/v1/me/coupons", headers=member)).json()["items"] == []
    await _buy_and_complete(shop, member, 24000)  # 白银: a real upgrade
    wallet = (await client.get("/v1/me/coupons", headers=member)).json()["items"]
    assert [c["name"] for c in wallet] == ["升级礼"]
