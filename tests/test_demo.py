"""The demo shop: a menu with options, ~2,000 members, three months of orders and visits."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from growthloop.core.runtime import Runtime
from growthloop.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_if_empty
from growthloop.identity.models import Member, MemberActivityDay, PlatformAccount
from growthloop.orders.models import Order
from tests.conftest import Stack


async def test_demo_seed(client: httpx.AsyncClient, rt: Runtime, stack: Stack) -> None:
    if stack.name != "sqlite":
        pytest.skip("seeding is the same code on every backend; once is enough")
    merchant_id = await seed_if_empty(rt)
    assert await seed_if_empty(rt) == merchant_id  # a second start reuses the data

    r = await client.post("/v1/admin/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    admin = {"Authorization": f"Bearer {r.json()['token']}"}
    products = (await client.get("/v1/admin/products?limit=100", headers=admin)).json()["items"]
    assert len(products) >= 12
    assert {"糖度", "温度", "杯型"} <= {g["name"] for p in products for g in p["options"]}
    assert {p["category"] for p in products} >= {"奶茶", "果茶", "小食"}

    async with rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        members = (
            await s.execute(
                select(func.count()).select_from(Member).where(Member.merchant_id == merchant_id)
            )
        ).scalar_one()
        first, last, count = (
            await s.execute(
                select(
                    func.min(Order.created_at), func.max(Order.created_at), func.count()
                ).select_from(Order)
            )
        ).one()
        statuses = dict(
            (await s.execute(select(Order.status, func.count()).group_by(Order.status))).all()
        )
        visits = (await s.execute(select(func.count()).select_from(MemberActivityDay))).scalar_one()
    assert members == 2000
    assert last - first > timedelta(days=80)
    assert count > 5000
    # History is completed, refunded or cancelled; the group buy's leader has just paid.
    assert set(statuses) == {"completed", "refunded", "cancelled", "paid"}
    assert statuses["paid"] == 1

    # One of each campaign running.
    for path in ("flash-sales", "group-buys", "bargains", "lotteries", "invite-rules"):
        r = await client.get(f"/v1/admin/{path}", headers=admin)
        assert [c["status"] for c in r.json()["items"]] == ["running"], path
    r = await client.get("/v1/admin/group-buys", headers=admin)
    assert r.json()["items"][0]["groups_forming"] == 1
    r = await client.get("/v1/admin/distribution", headers=admin)
    assert r.json()["enabled"] is True
    assert visits > count  # members visit more often than they order

    # The loyalty programme: members in every tier, each balance equal to its ledger.
    from growthloop.loyalty.models import LedgerEntry, MemberLoyalty

    async with rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        tiers = dict(
            (
                await s.execute(
                    select(MemberLoyalty.tier, func.count()).group_by(MemberLoyalty.tier)
                )
            ).all()
        )
        ledger_sum = (await s.execute(select(func.sum(LedgerEntry.delta)))).scalar_one()
        points_sum = (await s.execute(select(func.sum(MemberLoyalty.points)))).scalar_one()
    assert set(tiers) == {"普通会员", "白银会员", "黄金会员"}, tiers
    assert min(tiers.values()) >= 20
    assert ledger_sum == points_sum > 0
    coupons = (await client.get("/v1/admin/coupons", headers=admin)).json()["items"]
    assert len(coupons) == 6  # two to claim, two automatic, the mall's, the invite reward
    assert {c["auto_issue"] for c in coupons} == {None, "birthday", "tier_upgrade"}
    # What members earn (gifts, the mall's, the invite and lottery reward) is granted only.
    assert sorted((c["name"], c["obtain"]) for c in coupons) == [
        ("会员日 85折券", "claim"),
        ("升级礼 免单券（20元内）", "grant"),
        ("新人专享 满20减3", "claim"),
        ("生日礼 满30减10", "grant"),
        ("积分兑换 5元券", "grant"),
        ("邀请有礼 5元券", "grant"),
    ]
    rewards = (await client.get("/v1/admin/mall/rewards", headers=admin)).json()["items"]
    assert {r["kind"] for r in rewards} == {"coupon", "product", "physical"}
    partners = (await client.get("/v1/admin/alliance/partnerships", headers=admin)).json()
    assert [p["status"] for p in partners["items"]] == ["active"]

    # 300 of the shop's WeChat members are also the partner bakery's (same unionid).
    async with rt.db.unit_of_work(write=False) as uow:
        shop_account, bakery_account = aliased(PlatformAccount), aliased(PlatformAccount)
        shared = (
            await uow.session.execute(
                select(func.count())
                .select_from(shop_account)
                .join(bakery_account, bakery_account.unionid == shop_account.unionid)
                .where(
                    shop_account.merchant_id == merchant_id,
                    bakery_account.merchant_id != merchant_id,
                )
            )
        ).scalar_one()
    assert shared == 300

    # A consumer can browse the menu without logging in, and order after logging in.
    menu = (await client.get(f"/v1/products?merchant_id={merchant_id}&limit=100")).json()["items"]
    assert len(menu) == len(products)
    login = await client.post(
        "/v1/auth/login", json={"merchant_id": merchant_id, "platform": "dev", "code": "visitor"}
    )
    member = {"Authorization": f"Bearer {login.json()['token']}"}
    order = await client.post(
        "/v1/orders", json={"items": [{"product_id": menu[0]["id"], "quantity": 1}]}, headers=member
    )
    assert order.status_code == 201

    # The dashboard reads the event store: its order figures are the orders table's, day by
    # day in Shanghai time, after the campaigns' business events are flushed.
    from zoneinfo import ZoneInfo

    from growthloop.analytics import tasks as analytics

    await analytics.flush_outbox(rt.db, rt.analytics)
    tz = ZoneInfo("Asia/Shanghai")
    today = rt.clock.now().astimezone(tz).date()
    first_day = today - timedelta(days=89)
    r = await client.get(f"/v1/admin/analytics/overview?from={first_day}&to={today}", headers=admin)
    assert r.status_code == 200, r.text
    dashboard = r.json()
    async with rt.db.unit_of_work(write=False) as uow:
        paid = (
            await uow.session.execute(
                select(Order.paid_at, Order.payable).where(
                    Order.merchant_id == merchant_id, Order.paid_at.is_not(None)
                )
            )
        ).all()
    in_range = [(at, amount) for at, amount in paid if at.astimezone(tz).date() >= first_day]
    assert dashboard["orders"] == len(in_range)
    assert dashboard["gmv"] == sum(amount for _, amount in in_range)
    per_day: dict[str, int] = {}
    for at, _ in in_range:
        key = at.astimezone(tz).date().isoformat()
        per_day[key] = per_day.get(key, 0) + 1
    assert {d["date"]: d["orders"] for d in dashboard["by_day"] if d["orders"]} == per_day
    assert 0 < dashboard["paying_members"] <= dashboard["active_members"] <= 2000
    assert dashboard["visitors"] > dashboard["active_members"]  # passers-by too
    assert 0 < dashboard["repurchase_rate"] < 1
    r = await client.get("/v1/admin/analytics/platforms", headers=admin)
    platforms = {p["platform"] for p in r.json()["platforms"]}
    assert platforms >= {"wechat", "alipay", "douyin", "app"}  # and dev: the campaigns' players
    r = await client.post(
        "/v1/admin/analytics/attribution",
        json={"from": str(first_day), "to": str(today), "by": "channel", "model": "first_touch"},
        headers=admin,
    )
    assert {row["value"] for row in r.json()["rows"]} >= {"wechat_search", "table_qr"}
    r = await client.post(
        "/v1/admin/analytics/funnel",
        json={
            "steps": [{"event": "page_view"}, {"event": "order.created"}, {"event": "order.paid"}],
            "window_hours": 24,
            "from": str(first_day),
            "to": str(today),
        },
        headers=admin,
    )
    counts = [s["count"] for s in r.json()["steps"]]
    assert counts[0] >= counts[1] >= counts[2] > 0
