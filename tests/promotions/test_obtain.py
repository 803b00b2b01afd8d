"""How a coupon is obtained: claimable templates are in the coupon centre; granted-only ones
(gifts and rewards) are given by automatic issuance, operators and the programme's
rewards, never claimed by members."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from growthloop.core.events import emit
from growthloop.core.runtime import Runtime
from growthloop.loyalty.events import MemberBirthdayGift
from growthloop.migrate import alembic_config, upgrade
from growthloop.promotions import service
from growthloop.promotions.models import Coupon, CouponTemplate
from tests.helpers import assert_error, make_shop
from tests.promotions.support import claim, member_id, my_coupons, template


async def _claimed(rt: Runtime, template_id: str) -> tuple[int, int]:
    """(template.claimed, coupons of the template)"""
    async with rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        claimed = await s.scalar(
            select(CouponTemplate.claimed).where(CouponTemplate.id == template_id)
        )
        coupons = await s.scalar(
            select(func.count()).select_from(Coupon).where(Coupon.template_id == template_id)
        )
    return int(claimed or 0), int(coupons or 0)


async def test_granted_only_templates_are_neither_listed_nor_claimable(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    open_ = await template(shop, name="新人专享")
    gift = await template(shop, name="升级礼 免单券", value=2000, obtain="grant")
    birthday = await template(shop, name="生日礼", auto_issue="birthday")
    assert (open_["obtain"], gift["obtain"], birthday["obtain"]) == ("claim", "grant", "grant")

    # Operators see every template, with how it is obtained; they may filter on it.
    r = await client.get("/v1/admin/coupons", headers=shop.admin)
    assert [(t["id"], t["obtain"]) for t in r.json()["items"]] == [
        (birthday["id"], "grant"),
        (gift["id"], "grant"),
        (open_["id"], "claim"),
    ]
    r = await client.get("/v1/admin/coupons", params={"obtain": "grant"}, headers=shop.admin)
    assert [t["id"] for t in r.json()["items"]] == [birthday["id"], gift["id"]]
    r = await client.get("/v1/admin/coupons", params={"obtain": "claim"}, headers=shop.admin)
    assert [t["id"] for t in r.json()["items"]] == [open_["id"]]
    r = await client.get("/v1/admin/coupons", params={"obtain": "free"}, headers=shop.admin)
    assert_error(r, 422, "invalid_input")

    # A brand-new member sees only the claimable one, and cannot claim the others.
    member = await shop.member()
    r = await client.get("/v1/coupons", headers=member)
    assert [t["id"] for t in r.json()["items"]] == [open_["id"]]
    for t in (gift, birthday):
        r = await client.post(f"/v1/coupons/{t['id']}/claim", headers=member)
        error = assert_error(r, 403, "not_claimable")
        assert error["details"] == {"template_id": t["id"]}
        assert await _claimed(rt, t["id"]) == (0, 0)
    assert await my_coupons(client, member) == []
    assert (await claim(shop, member, open_["id"]))["source"] == "claim"


async def test_granting_paths_give_granted_only_templates(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    gift = await template(shop, name="邀请有礼", obtain="grant", per_member_limit=5)
    welcome = await template(shop, name="新人礼", auto_issue="registration")
    member = await shop.member()
    mid = await member_id(client, member)
    # Automatic issuance on registration.
    assert [c["template_id"] for c in await my_coupons(client, member)] == [welcome["id"]]
    # An operator's issue.
    r = await client.post(
        f"/v1/admin/coupons/{gift['id']}/issue", json={"member_ids": [mid]}, headers=shop.admin
    )
    assert (r.status_code, r.json()["issued"]) == (200, 1), r.text
    # A keyed grant, the way the mall, lotteries and invite rules give one.
    async with rt.db.unit_of_work() as uow:
        coupon = await service.grant_coupon(
            uow.session, shop.merchant_id, gift["id"], mid, source="campaign", key="invite:1"
        )
    # A birthday gift through its event.
    birthday = await template(shop, name="生日礼", auto_issue="birthday")
    async with rt.db.unit_of_work() as uow:
        await emit(
            uow.session,
            MemberBirthdayGift(merchant_id=shop.merchant_id, member_id=mid, year=2026, tier=None),
        )
    wallet = await my_coupons(client, member)
    assert sorted((c["template_id"], c["source"]) for c in wallet) == sorted(
        [
            (welcome["id"], "auto"),
            (gift["id"], "issue"),
            (gift["id"], "campaign"),
            (birthday["id"], "auto"),
        ]
    )
    assert coupon.id in {c["id"] for c in wallet}
    assert await _claimed(rt, gift["id"]) == (2, 2)


async def test_operators_change_how_a_template_is_obtained(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    t = await template(shop)
    member = await shop.member()
    path = f"/v1/admin/coupons/{t['id']}"

    r = await client.patch(path, json={"obtain": "grant"}, headers=shop.admin)
    assert (r.status_code, r.json()["obtain"], r.json()["active"]) == (200, "grant", True)
    assert (await client.get("/v1/coupons", headers=member)).json()["items"] == []
    assert_error(await client.post(f"/v1/coupons/{t['id']}/claim", headers=member), 403)

    r = await client.patch(path, json={"obtain": "claim", "active": False}, headers=shop.admin)
    assert (r.json()["obtain"], r.json()["active"]) == ("claim", False)
    r = await client.patch(path, json={"active": True}, headers=shop.admin)
    assert (r.json()["obtain"], r.json()["active"]) == ("claim", True)
    assert [x["id"] for x in (await client.get("/v1/coupons", headers=member)).json()["items"]] == [
        t["id"]
    ]
    await claim(shop, member, t["id"])

    # An automatically issued template stays granted-only.
    auto = await template(shop, auto_issue="tier_upgrade")
    r = await client.patch(
        f"/v1/admin/coupons/{auto['id']}", json={"obtain": "claim"}, headers=shop.admin
    )
    error = assert_error(r, 422, "invalid_coupon_template")
    assert error["details"] == {"template_id": auto["id"], "auto_issue": "tier_upgrade"}
    r = await client.get(f"/v1/admin/coupons/{auto['id']}", headers=shop.admin)
    assert r.json()["obtain"] == "grant"
    for bad in ({}, {"obtain": "mall"}, {"obtain": None}, {"name": "x"}):
        assert_error(await client.patch(path, json=bad, headers=shop.admin), 422, "invalid_input")


def _insert(conn: Connection, table: str, **values: Any) -> None:
    names = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({params})"), values)


TEMPLATE = {
    "merchant_id": "M",
    "kind": "amount_off",
    "value": 500,
    "min_spend": 0,
    "claimed": 0,
    "per_member_limit": 1,
    "product_ids": "[]",
    "category_ids": "[]",
    "active": True,
    "created_at": "2026-12-01 00:00:00",
    "updated_at": "2026-12-01 00:00:00",
}


def _seed(conn: Connection) -> None:
    """Templates as the issue found them: two claimable, the rest given by the programme."""
    for name in ("open", "other", "auto", "mall", "prize", "inviter", "invitee"):
        _insert(conn, "coupon_templates", id=name, name=name, **TEMPLATE)
    conn.execute(text("UPDATE coupon_templates SET auto_issue = 'birthday' WHERE id = 'auto'"))
    when = "2026-12-01 00:00:00"
    _insert(
        conn,
        "mall_rewards",
        id="R",
        merchant_id="M",
        kind="coupon",
        name="积分兑换",
        template_id="mall",
        points_cost=500,
        redeemed=0,
        active=True,
        sort=0,
        created_at=when,
        updated_at=when,
    )
    _insert(
        conn,
        "lotteries",
        id="L",
        merchant_id="M",
        name="大转盘",
        starts_at=when,
        cost_points=0,
        free_draws_per_day=1,
        voucher_valid_days=30,
        created_at=when,
    )
    _insert(
        conn,
        "lottery_prizes",
        id="P",
        merchant_id="M",
        lottery_id="L",
        seq=1,
        name="5元券",
        kind="coupon",
        weight=1,
        stock=10,
        given=0,
        template_id="prize",
    )
    _insert(
        conn,
        "invite_rules",
        id="I",
        merchant_id="M",
        name="邀请有礼",
        trigger="registration",
        invites_needed=3,
        repeat=False,
        inviter_template_id="inviter",
        invitee_template_id="invitee",
        starts_at=when,
        created_at=when,
    )


async def _obtained(url: str) -> dict[str, str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id, obtain FROM coupon_templates"))
            return {row.id: row.obtain for row in rows}
    finally:
        await engine.dispose()


async def _migrate(url: str, *revisions: str, seed: bool = False) -> None:
    engine = create_async_engine(url)
    try:
        for revision in revisions:
            await upgrade(engine, revision)
        if seed:
            async with engine.begin() as conn:
                await conn.run_sync(_seed)
    finally:
        await engine.dispose()


async def test_migration_marks_what_the_programme_gives_as_granted(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'obtain.db'}"
    # The schema just before this migration: both revisions it follows.
    await _migrate(url, "7ca440538f48", "9dea3c72b62b", seed=True)
    await _migrate(url, "c0a1b2d3e4f5")
    assert await _obtained(url) == {
        "open": "claim",
        "other": "claim",
        "auto": "grant",
        "mall": "grant",
        "prize": "grant",
        "inviter": "grant",
        "invitee": "grant",
    }

    # Downgrading drops the column and nothing else.
    engine = create_async_engine(url)
    try:

        def down(connection: Connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "7ca440538f48")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: [r[1] for r in c.exec_driver_sql("PRAGMA table_info(coupon_templates)")]
            )
            count = (await conn.execute(text("SELECT count(*) FROM coupon_templates"))).scalar()
    finally:
        await engine.dispose()
    assert "obtain" not in columns and "auto_issue" in columns
    assert count == 7
