"""The coupon lifecycle that orders drives: quote -> lock -> redeem | release; restore on refund."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from growthloop.promotions.errors import CouponNotAvailable
from tests.helpers import Shop, make_shop
from tests.promotions.support import claim, line, lock, member_id, my_coupons, quote, step, template


async def _wallet(
    client: httpx.AsyncClient, shop: Shop, **terms: object
) -> tuple[dict[str, str], str, str]:
    member = await shop.member()
    coupon = await claim(shop, member, (await template(shop, **terms))["id"])
    return member, await member_id(client, member), coupon["id"]


async def _status(client: httpx.AsyncClient, member: dict[str, str]) -> tuple[str, str | None]:
    (coupon,) = await my_coupons(client, member)
    return coupon["status"], coupon["order_id"]


async def test_lock_redeem_restore(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member, mid, coupon_id = await _wallet(client, shop, valid_days=30)
    assert (await quote(rt, shop, mid, coupon_id, [line(1000)])).discount == 500

    order_id = await lock(rt, coupon_id)
    assert await _status(client, member) == ("locked", order_id)
    assert [c["id"] for c in await my_coupons(client, member, "locked")] == [coupon_id]
    with pytest.raises(CouponNotAvailable):  # held by the order: not quotable for another
        await quote(rt, shop, mid, coupon_id, [line(1000)])
    with pytest.raises(CouponNotAvailable):  # and cannot be locked twice
        await lock(rt, coupon_id)

    await step(rt, "redeem", order_id)
    await step(rt, "redeem", order_id)  # a replayed payment notification changes nothing
    (used,) = await my_coupons(client, member, "used")
    assert (used["status"], used["order_id"], used["used_at"]) == (
        "used",
        order_id,
        used["used_at"],
    )
    assert used["used_at"] is not None
    with pytest.raises(CouponNotAvailable):
        await quote(rt, shop, mid, coupon_id, [line(1000)])

    await step(rt, "restore", order_id)
    await step(rt, "restore", order_id)
    assert await _status(client, member) == ("available", None)
    assert (await quote(rt, shop, mid, coupon_id, [line(1000)])).discount == 500
    # The same coupon serves the next order; the old order's calls no longer reach it.
    next_order = await lock(rt, coupon_id)
    await step(rt, "release", order_id)
    await step(rt, "restore", order_id)
    assert await _status(client, member) == ("locked", next_order)


async def test_release_returns_a_locked_coupon(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member, mid, coupon_id = await _wallet(client, shop)
    order_id = await lock(rt, coupon_id)
    await step(rt, "release", order_id)
    await step(rt, "release", order_id)
    assert await _status(client, member) == ("available", None)
    await step(rt, "redeem", order_id)  # a late payment of the released order: nothing to use
    assert await _status(client, member) == ("available", None)
    assert (await quote(rt, shop, mid, coupon_id, [line(1000)])).discount == 500


async def test_release_and_restore_of_unknown_orders_are_no_ops(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member, _, coupon_id = await _wallet(client, shop)
    for action in ("release", "redeem", "restore"):
        await step(rt, action, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert await _status(client, member) == ("available", None)
    order_id = await lock(rt, coupon_id)
    await step(rt, "restore", order_id)  # restore only undoes a use, not a lock
    assert await _status(client, member) == ("locked", order_id)


async def test_restore_after_validity_ended_expires(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    member, _, coupon_id = await _wallet(client, shop, valid_days=3)
    order_id = await lock(rt, coupon_id)
    await step(rt, "redeem", order_id)
    clock.advance(days=3)
    await step(rt, "restore", order_id)
    assert await _status(client, member) == ("expired", None)
    assert [c["id"] for c in await my_coupons(client, member, "expired")] == [coupon_id]
    with pytest.raises(CouponNotAvailable):
        await lock(rt, coupon_id)
    await step(rt, "restore", order_id)
    assert await _status(client, member) == ("expired", None)


async def test_lock_rechecks_validity(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    """Quoted just before the end, locked just after: the lock refuses."""
    shop = await make_shop(client, rt)
    _, mid, coupon_id = await _wallet(client, shop, valid_days=1)
    start = clock.now()
    not_yet = await template(
        shop,
        valid_from=(start + timedelta(days=5)).isoformat(),
        valid_until=(start + timedelta(days=6)).isoformat(),
    )
    early = await claim(shop, await shop.member(), not_yet["id"])
    with pytest.raises(CouponNotAvailable):
        await lock(rt, early["id"])

    clock.advance(days=1, seconds=-1)
    await quote(rt, shop, mid, coupon_id, [line(1000)])
    clock.advance(seconds=1)
    with pytest.raises(CouponNotAvailable):
        await lock(rt, coupon_id)
