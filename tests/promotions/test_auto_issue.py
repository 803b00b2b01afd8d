"""Coupons granted automatically on registration, 支付即会员 enrolment, birthdays and tier
upgrades: through the real flows where they exist, by emitting the events otherwise. A
template that cannot grant is skipped and never fails the login or payment that triggered it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest

from growthloop.core.clock import FrozenClock
from growthloop.core.events import DomainEvent, emit
from growthloop.core.runtime import Runtime
from growthloop.loyalty.events import (
    MemberBirthdayGift,
    MemberEnrolled,
    MemberTierChanged,
    TierDirection,
)
from tests.helpers import Shop, assert_error, bearer, make_shop
from tests.promotions.support import member_id, my_coupons, template

TIERS = [
    {"name": "普通会员"},
    {"name": "白银会员", "min_spend": 20000},
    {"name": "黄金会员", "min_spend": 100000},
]


async def _program(shop: Shop) -> None:
    body = {"points_per_yuan": 1, "welcome_points": 0, "tiers": TIERS}
    r = await shop.client.put("/v1/admin/loyalty/program", json=body, headers=shop.admin)
    assert r.status_code == 200, r.text


async def _emit(rt: Runtime, event: DomainEvent) -> None:
    async with rt.db.unit_of_work() as uow:
        await emit(uow.session, event)


async def _granted(client: httpx.AsyncClient, member: dict[str, str]) -> list[str]:
    """The wallet's template ids, oldest first; every one of them granted automatically."""
    coupons = await my_coupons(client, member)
    assert {c["source"] for c in coupons} <= {"auto"}
    return [c["template_id"] for c in reversed(coupons)]


async def _buy_and_complete(shop: Shop, member: dict[str, str], price: int) -> dict[str, Any]:
    product = await shop.product(price=price, stock=5, options=[])
    order = await shop.paid_order(member, product["id"])
    r = await shop.client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    assert r.status_code == 200, r.text
    return order


async def test_template_settings_and_validation(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    t = await template(shop, auto_issue="tier_upgrade", auto_issue_tiers=["黄金会员", "黄金会员"])
    assert (t["auto_issue"], t["auto_issue_tiers"]) == ("tier_upgrade", ["黄金会员"])
    assert t["stacks_with_campaigns"] is False
    plain = await template(shop, stacks_with_campaigns=True)
    assert (plain["auto_issue"], plain["auto_issue_tiers"]) == (None, [])
    assert plain["stacks_with_campaigns"] is True
    r = await client.get(f"/v1/admin/coupons/{t['id']}", headers=shop.admin)
    assert r.json()["auto_issue_tiers"] == ["黄金会员"]
    assert (t["obtain"], plain["obtain"]) == ("grant", "claim")
    member = await shop.member()
    r = await client.get("/v1/coupons", headers=member)
    listed = {x["id"]: x for x in r.json()["items"]}
    # An automatically issued template is granted only: members do not see it listed.
    assert list(listed) == [plain["id"]]
    assert "auto_issue" not in listed[plain["id"]]  # how coupons are given out is the shop's
    assert listed[plain["id"]]["stacks_with_campaigns"] is True

    base = {"name": "券", "kind": "amount_off", "value": 100}
    for bad in (
        {"auto_issue": "anniversary"},
        {"auto_issue": "registration", "auto_issue_tiers": ["白银会员"]},
        {"auto_issue_tiers": ["白银会员"]},
        {"auto_issue": "birthday", "auto_issue_tiers": [""]},
        {"auto_issue": "birthday", "auto_issue_tiers": ["x" * 33]},
        {"stacks_with_campaigns": "yes"},
        {"auto_issue": "birthday", "obtain": "claim"},
        {"obtain": "mall"},
    ):
        r = await client.post("/v1/admin/coupons", json={**base, **bad}, headers=shop.admin)
        assert_error(r, 422)
    r = await client.get("/v1/admin/coupons", headers=shop.admin)
    assert len(r.json()["items"]) == 2


async def test_registration_grants_once_and_skips_what_cannot_grant(
    client: httpx.AsyncClient,
    rt: Runtime,
    clock: FrozenClock,
) -> None:
    shop = await make_shop(client, rt)
    now = clock.now()
    welcome = await template(shop, name="新人券", auto_issue="registration", total=2, valid_days=7)
    await template(shop, name="停用", auto_issue="registration", active=False)
    await template(
        shop,
        name="下月",
        auto_issue="registration",
        valid_from=(now + timedelta(days=30)).isoformat(),
        valid_until=(now + timedelta(days=60)).isoformat(),
    )
    ending = await template(
        shop,
        name="本周",
        auto_issue="registration",
        valid_from=now.isoformat(),
        valid_until=(now + timedelta(hours=1)).isoformat(),
    )
    await template(shop, name="领券")  # claimed only
    await template(shop, name="生日", auto_issue="birthday")

    first = await shop.member("first")
    assert await _granted(client, first) == [welcome["id"], ending["id"]]
    first = await shop.member("first")  # a later login is no registration
    assert len(await _granted(client, first)) == 2

    clock.advance(hours=2)  # 本周's window ended
    second = await shop.member("second")
    assert await _granted(client, second) == [welcome["id"]]
    third = await shop.member("third")  # 新人券 is sold out: the login still works
    assert await _granted(client, third) == []
    r = await client.get(f"/v1/admin/coupons/{welcome['id']}", headers=shop.admin)
    assert (r.json()["claimed"], r.json()["remaining"]) == (2, 0)
    coupon = (await my_coupons(client, first))[-1]
    assert coupon["valid_until"] is not None


async def test_parallel_registrations_race_for_the_last_coupons(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """Every login succeeds; the guarded updates hand out exactly the template's total."""
    shop = await make_shop(client, rt)
    t = await template(shop, auto_issue="registration", total=3)
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/auth/login",
                json={"merchant_id": shop.merchant_id, "platform": "dev", "code": f"racer-{i}"},
            )
            for i in range(12)
        )
    )
    assert [r.status_code for r in responses] == [200] * 12
    wallets = [await _granted(client, bearer(r.json()["token"])) for r in responses]
    assert sorted(len(w) for w in wallets) == [0] * 9 + [1] * 3
    r = await client.get(f"/v1/admin/coupons/{t['id']}", headers=shop.admin)
    assert r.json()["claimed"] == 3


async def test_enrolment_on_first_payment(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await _program(shop)
    anyone = await template(shop, name="入会礼", auto_issue="enrolment")
    base = await template(
        shop, name="普通入会", auto_issue="enrolment", auto_issue_tiers=["普通会员"]
    )
    await template(shop, name="金卡入会", auto_issue="enrolment", auto_issue_tiers=["黄金会员"])
    member = await shop.member()
    product = await shop.product(price=1000, stock=5, options=[])
    await shop.paid_order(member, product["id"])
    assert await _granted(client, member) == [anyone["id"], base["id"]]
    await shop.paid_order(member, product["id"])  # enrolled once
    assert len(await _granted(client, member)) == 2

    # The payload as loyalty sends it, replayed: the issue keys hold.
    mid = await member_id(client, member)
    enrolled = MemberEnrolled(
        merchant_id=shop.merchant_id, member_id=mid, via="first_payment", tier="黄金会员"
    )
    await _emit(rt, enrolled)
    assert len(await _granted(client, member)) == 3  # only 金卡入会 was new
    await _emit(rt, enrolled)
    assert len(await _granted(client, member)) == 3


async def test_enrolment_sold_out_never_fails_the_payment(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await _program(shop)
    t = await template(shop, auto_issue="enrolment", total=1)
    product = await shop.product(price=1000, stock=5, options=[])
    first, second = await shop.member(), await shop.member()
    await shop.paid_order(first, product["id"])
    order = await shop.paid_order(second, product["id"])  # asserts the order is paid
    assert order["status"] == "paid"
    assert await _granted(client, first) == [t["id"]]
    assert await _granted(client, second) == []
    r = await client.get("/v1/me/membership", headers=second)
    assert r.json()["enrolled_at"] is not None


async def test_tier_upgrade_through_orders(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await _program(shop)
    silver = await template(
        shop, name="白银礼", auto_issue="tier_upgrade", auto_issue_tiers=["白银会员"]
    )
    gold = await template(
        shop, name="黄金礼", auto_issue="tier_upgrade", auto_issue_tiers=["黄金会员"]
    )
    every = await template(shop, name="升级礼", auto_issue="tier_upgrade", per_member_limit=5)
    member = await shop.member()
    # The first login puts the member in the base tier: where everyone starts, no gift.
    assert await _granted(client, member) == []

    await _buy_and_complete(shop, member, 24000)  # 240 yuan: 白银会员
    r = await client.get("/v1/me/membership", headers=member)
    assert r.json()["tier"] == "白银会员"
    assert await _granted(client, member) == [silver["id"], every["id"]]

    await _buy_and_complete(shop, member, 80000)  # 1040 yuan in all: 黄金会员
    assert await _granted(client, member) == [silver["id"], every["id"], gold["id"], every["id"]]
    coupons = await my_coupons(client, member)
    assert all(c["status"] == "available" for c in coupons)


async def test_tier_changes_as_loyalty_reports_them(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    gold = await template(shop, auto_issue="tier_upgrade", auto_issue_tiers=["黄金会员"])
    member = await shop.member()
    mid = await member_id(client, member)

    def change(before: str, after: str | None, direction: TierDirection) -> MemberTierChanged:
        return MemberTierChanged(
            merchant_id=shop.merchant_id,
            member_id=mid,
            from_=before,
            to=after,
            direction=direction,
        )

    await _emit(rt, change("白银会员", "黄金会员", "down"))
    assert await _granted(client, member) == []
    await _emit(rt, change("白银会员", "黄金会员", "up"))
    await _emit(rt, change("白银会员", "黄金会员", "up"))  # replayed
    assert await _granted(client, member) == [gold["id"]]
    # Down and back up again: the tier's gift was given already.
    await _emit(rt, change("黄金会员", "白银会员", "down"))
    await _emit(rt, change("白银会员", "黄金会员", "up"))
    assert await _granted(client, member) == [gold["id"]]
    await _emit(rt, change("白银会员", None, "down"))
    assert await _granted(client, member) == [gold["id"]]


async def test_birthday_once_a_year_per_tier(
    client: httpx.AsyncClient, rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    shop = await make_shop(client, rt)
    anyone = await template(shop, name="生日券", auto_issue="birthday", per_member_limit=10)
    silver = await template(
        shop, name="白银生日", auto_issue="birthday", auto_issue_tiers=["白银会员", "黄金会员"]
    )
    member = await shop.member()
    mid = await member_id(client, member)

    def gift(year: int, tier: str | None) -> MemberBirthdayGift:
        return MemberBirthdayGift(merchant_id=shop.merchant_id, member_id=mid, year=year, tier=tier)

    await _emit(rt, gift(2026, None))
    assert await _granted(client, member) == [anyone["id"]]
    await _emit(rt, gift(2026, "白银会员"))  # replayed
    assert await _granted(client, member) == [anyone["id"], silver["id"]]
    with caplog.at_level(logging.INFO, logger="growthloop.promotions"):
        await _emit(rt, gift(2027, "黄金会员"))
    # 白银生日 allows one per member: next year's is skipped for the limit, logged.
    assert await _granted(client, member) == [anyone["id"], silver["id"], anyone["id"]]
    assert "automatic coupon skipped: limit_reached" in caplog.messages
    coupons = await my_coupons(client, member)
    assert len({c["id"] for c in coupons}) == 3


async def test_birthday_through_the_sweep(client: httpx.AsyncClient, rt: Runtime) -> None:
    """The whole chain: the birthday sweep (identity) -> the birthday gift (loyalty, for
    enrolled members) -> the tier's birthday coupon."""
    shop = await make_shop(client, rt)
    await _program(shop)
    silver = await template(
        shop, name="白银生日", auto_issue="birthday", auto_issue_tiers=["白银会员"]
    )
    anyone = await template(shop, name="生日券", auto_issue="birthday", valid_days=30)
    member, stranger = await shop.member(), await shop.member()
    for m in (member, stranger):  # born on 2 March, the test clock's day
        r = await client.patch("/v1/me/profile", json={"birthday": "1990-03-02"}, headers=m)
        assert r.status_code == 200, r.text
    await _buy_and_complete(shop, member, 24000)  # enrolled, 白银会员
    await rt.sweeper.run_once()
    assert await _granted(client, member) == [silver["id"], anyone["id"]]
    assert await _granted(client, stranger) == []  # never enrolled: no birthday gift
    await rt.sweeper.run_once()  # the same day again: nothing twice
    assert len(await _granted(client, member)) == 2


async def test_events_without_a_member_grant_nothing(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    t = await template(shop, auto_issue="birthday")
    await _emit(rt, MemberBirthdayGift(merchant_id=shop.merchant_id, year=2026, tier=None))
    r = await client.get(f"/v1/admin/coupons/{t['id']}", headers=shop.admin)
    assert r.json()["claimed"] == 0
