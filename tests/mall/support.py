"""Helpers for the points mall tests: a loyalty programme, points earned the way members
earn them (a paid order completed by the store), rewards through the admin API, and a
snapshot of everything a refused redemption must leave untouched."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from sqlalchemy import Executable, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.loyalty.models import LedgerEntry, MemberLoyalty, PointsBatch
from growthloop.mall.models import MemberRedemptionCount, Redemption, Reward
from growthloop.promotions.models import Coupon
from tests.helpers import Shop

_seq = itertools.count(1)

PROGRAM = {
    "points_per_yuan": 1,
    "points_expire_days": 365,
    "tiers": [{"name": "会员"}],
}


async def program(shop: Shop, **overrides: Any) -> None:
    r = await shop.client.put(
        "/v1/admin/loyalty/program", json={**PROGRAM, **overrides}, headers=shop.admin
    )
    assert r.status_code == 200, r.text


async def earn(
    shop: Shop, member: dict[str, str], points: int, product: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`points` earned by an order of `points` yuan, paid and completed (1 point per yuan);
    `product` priced at a whole number of yuan is bought as often as that takes."""
    if product is None:
        product = await shop.product(name=f"积分商品{next(_seq)}", price=points * 100, options=[])
    quantity, rest = divmod(points * 100, product["price"])
    assert quantity >= 1 and rest == 0, (points, product["price"])
    order = await shop.paid_order(member, product["id"], quantity)
    r = await shop.client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    assert r.status_code == 200, r.text
    return order


async def member_id(client: httpx.AsyncClient, member: dict[str, str]) -> str:
    r = await client.get("/v1/me", headers=member)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def reward(shop: Shop, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "physical",
        "name": f"帆布袋{next(_seq)}",
        "points_cost": 100,
        "stock": 10,
    }
    body.update(overrides)
    r = await shop.client.post("/v1/admin/mall/rewards", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


SHIPPING = {"name": "张三", "phone": "13800138000", "address": "上海市徐汇区漕溪北路 88 号"}


async def redeem(shop: Shop, member: dict[str, str], reward_id: str, **body: Any) -> httpx.Response:
    return await shop.client.post(
        f"/v1/mall/rewards/{reward_id}/redeem", json=body or None, headers=member
    )


async def balance(client: httpx.AsyncClient, member: dict[str, str]) -> int:
    r = await client.get("/v1/me/membership", headers=member)
    assert r.status_code == 200, r.text
    return int(r.json()["points"])


async def ledger(client: httpx.AsyncClient, member: dict[str, str]) -> list[dict[str, Any]]:
    r = await client.get("/v1/me/points/ledger", params={"limit": 100}, headers=member)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def my_redemptions(client: httpx.AsyncClient, member: dict[str, str]) -> list[Any]:
    r = await client.get("/v1/me/mall/redemptions", params={"limit": 100}, headers=member)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def _rows(s: AsyncSession, stmt: Executable) -> list[tuple[Any, ...]]:
    return sorted(tuple(row) for row in await s.execute(stmt))


async def db_state(shop: Shop) -> dict[str, Any]:
    """Every row a redemption could write for this merchant: rewards' stock, members'
    counters, redemptions, points accounts, batches and ledger, coupons."""
    m = shop.merchant_id
    counts = MemberRedemptionCount
    state: dict[str, Any] = {}
    async with shop.rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        state["rewards"] = await _rows(
            s, select(Reward.id, Reward.redeemed).where(Reward.merchant_id == m)
        )
        state["counts"] = await _rows(
            s,
            select(counts.reward_id, counts.member_id, counts.count).where(counts.merchant_id == m),
        )
        state["accounts"] = await _rows(
            s,
            select(MemberLoyalty.member_id, MemberLoyalty.points).where(
                MemberLoyalty.merchant_id == m
            ),
        )
        state["batches"] = await _rows(
            s, select(PointsBatch.id, PointsBatch.remaining).where(PointsBatch.merchant_id == m)
        )
        for model in (LedgerEntry, Redemption, Coupon):
            stmt = select(func.count()).select_from(model).where(model.merchant_id == m)
            state[model.__tablename__] = (await s.execute(stmt)).scalar_one()
    return state


async def ledger_balanced(shop: Shop) -> None:
    """Every member's balance equals the sum of their ledger, and no batch is below zero."""
    m = shop.merchant_id
    async with shop.rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        sums: dict[str, int] = dict(
            await _rows(
                s,
                select(LedgerEntry.member_id, func.sum(LedgerEntry.delta))
                .where(LedgerEntry.merchant_id == m)
                .group_by(LedgerEntry.member_id),
            )
        )
        accounts: dict[str, int] = dict(
            await _rows(
                s,
                select(MemberLoyalty.member_id, MemberLoyalty.points).where(
                    MemberLoyalty.merchant_id == m
                ),
            )
        )
        negative = (
            await s.execute(
                select(func.count())
                .select_from(PointsBatch)
                .where(PointsBatch.merchant_id == m, PointsBatch.remaining < 0)
            )
        ).scalar_one()
    assert sums, "no ledger entries: nothing was checked"
    assert {k: v for k, v in accounts.items() if k in sums or v} == sums
    assert negative == 0


async def mall_spends(shop: Shop) -> list[tuple[Any, ...]]:
    """(member_id, delta) of every points-mall spend of this merchant."""
    async with shop.rt.db.unit_of_work(write=False) as uow:
        stmt = select(LedgerEntry.member_id, LedgerEntry.delta).where(
            LedgerEntry.merchant_id == shop.merchant_id, LedgerEntry.reason == "mall_redeem"
        )
        return await _rows(uow.session, stmt)
