"""Keyed grants (`grant_coupon`): the way other domains give a member a coupon. Limits as for
claims, idempotent by key, a refusal writes nothing even when the caller carries on."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from growthloop.core.clock import FrozenClock
from growthloop.core.errors import Forbidden
from growthloop.core.ids import new_id
from growthloop.core.runtime import Runtime
from growthloop.promotions import errors, service
from growthloop.promotions.models import Coupon, CouponClaimCount, CouponTemplate
from growthloop.wiring import build_runtime
from tests.conftest import Stack
from tests.helpers import make_shop
from tests.promotions.support import member_id, my_coupons, template


async def grant(rt: Runtime, merchant_id: str, template_id: str, member: str, key: str) -> Coupon:
    async with rt.db.unit_of_work() as uow:
        return await service.grant_coupon(
            uow.session, merchant_id, template_id, member, source="mall", key=key
        )


async def counts(rt: Runtime, template_id: str) -> tuple[int, int, int]:
    """(template.claimed, coupons of the template, sum of the member counters)"""
    async with rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        claimed = await s.scalar(
            select(CouponTemplate.claimed).where(CouponTemplate.id == template_id)
        )
        coupons = await s.scalar(
            select(func.count()).select_from(Coupon).where(Coupon.template_id == template_id)
        )
        members = await s.scalar(
            select(func.coalesce(func.sum(CouponClaimCount.count), 0)).where(
                CouponClaimCount.template_id == template_id
            )
        )
    return int(claimed or 0), int(coupons or 0), int(members or 0)


async def test_grant_is_idempotent_by_key(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    t = await template(shop, total=5, per_member_limit=3, valid_days=10)
    member = await shop.member()
    mid = await member_id(client, member)

    first = await grant(rt, shop.merchant_id, t["id"], mid, "mall:redemption:1")
    again = await grant(rt, shop.merchant_id, t["id"], mid, "mall:redemption:1")
    other = await grant(rt, shop.merchant_id, t["id"], mid, "mall:redemption:2")
    assert first.id == again.id != other.id
    assert (first.source, first.issue_key, first.status) == (
        "mall",
        "mall:redemption:1",
        "available",
    )
    assert first.valid_until == first.claimed_at + timedelta(days=10)
    assert await counts(rt, t["id"]) == (2, 2, 2)
    wallet = await my_coupons(client, member)
    assert sorted(c["id"] for c in wallet) == sorted([first.id, other.id])
    assert {c["source"] for c in wallet} == {"mall"}

    # The key already granted: the same coupon comes back even once the template stops.
    r = await client.patch(
        f"/v1/admin/coupons/{t['id']}", json={"active": False}, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    assert (await grant(rt, shop.merchant_id, t["id"], mid, "mall:redemption:2")).id == other.id
    with pytest.raises(errors.CouponInactive):
        await grant(rt, shop.merchant_id, t["id"], mid, "mall:redemption:3")


async def test_a_key_names_one_grant(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    t1 = await template(shop)
    t2 = await template(shop)
    a, b = new_id(), new_id()
    await grant(rt, shop.merchant_id, t1["id"], a, "k")
    with pytest.raises(errors.IssueKeyReused):
        await grant(rt, shop.merchant_id, t2["id"], a, "k")
    with pytest.raises(errors.IssueKeyReused):
        await grant(rt, shop.merchant_id, t1["id"], b, "k")
    assert await counts(rt, t2["id"]) == (0, 0, 0)
    # Keys are per merchant: another shop's "k" is its own.
    other = await make_shop(client, rt)
    t3 = await template(other)
    assert (await grant(rt, other.merchant_id, t3["id"], a, "k")).template_id == t3["id"]
    with pytest.raises(ValueError):
        await grant(rt, shop.merchant_id, t1["id"], a, "")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"total": 1}, errors.CouponSoldOut),
        ({"per_member_limit": 1}, errors.LimitReached),
    ],
)
async def test_refusals_write_nothing_even_when_caught(
    client: httpx.AsyncClient, rt: Runtime, overrides: dict[str, Any], error: type[Exception]
) -> None:
    shop = await make_shop(client, rt)
    t = await template(shop, **overrides)
    mid = new_id()
    await grant(rt, shop.merchant_id, t["id"], mid, "first")
    async with rt.db.unit_of_work() as uow:
        with pytest.raises(error):
            await service.grant_coupon(
                uow.session, shop.merchant_id, t["id"], mid, source="auto", key="second"
            )
        # The caller carries on and commits: the refused grant left no trace.
    assert await counts(rt, t["id"]) == (1, 1, 1)
    async with rt.db.unit_of_work(write=False) as uow:
        assert await uow.session.scalar(select(Coupon).where(Coupon.issue_key == "second")) is None


async def test_refusals_for_template_state(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    other = await make_shop(client, rt)
    ended = await template(
        shop,
        valid_from=clock.now().isoformat(),
        valid_until=(clock.now() + timedelta(days=1)).isoformat(),
    )
    foreign = await template(other)
    with pytest.raises(errors.CouponNotFound):
        await grant(rt, shop.merchant_id, new_id(), new_id(), "missing")
    with pytest.raises(Forbidden):
        await grant(rt, shop.merchant_id, foreign["id"], new_id(), "foreign")
    clock.advance(days=2)
    with pytest.raises(errors.CouponExpired):
        await grant(rt, shop.merchant_id, ended["id"], new_id(), "late")
    assert await counts(rt, ended["id"]) == (0, 0, 0)


async def test_thirty_parallel_grants(client: httpx.AsyncClient, rt: Runtime, stack: Stack) -> None:
    """Distinct keys on total=10 give exactly 10; one key fired 30 times gives exactly 1.
    Half the grants run through a second runtime on the same database (another process)."""
    shop = await make_shop(client, rt)
    other_rt = build_runtime(rt.settings, stack.clock)
    runtimes = [rt, other_rt]
    try:
        scarce = await template(shop, total=10)
        members = [new_id() for _ in range(30)]

        async def attempt(i: int, template_id: str, member: str, key: str) -> str:
            try:
                coupon = await grant(runtimes[i % 2], shop.merchant_id, template_id, member, key)
            except errors.CouponSoldOut:
                return "sold_out"
            return coupon.id

        results = await asyncio.gather(
            *(attempt(i, scarce["id"], m, f"distinct:{i}") for i, m in enumerate(members))
        )
        assert len({r for r in results if r != "sold_out"}) == 10
        assert results.count("sold_out") == 20
        assert await counts(rt, scarce["id"]) == (10, 10, 10)

        plenty = await template(shop, total=10, per_member_limit=5)
        mid = new_id()
        results = await asyncio.gather(
            *(attempt(i, plenty["id"], mid, "same-key") for i in range(30))
        )
        assert len(set(results)) == 1 and "sold_out" not in results
        assert await counts(rt, plenty["id"]) == (1, 1, 1)
    finally:
        await other_rt.db.dispose()
