"""Helpers for the coupon tests: templates and claims through the API, the orders-facing
service functions inside a unit of work, the way the orders domain calls them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from growthloop.core.ids import new_id
from growthloop.core.runtime import Runtime
from growthloop.promotions import service
from growthloop.promotions.service import CouponLine, CouponQuote
from tests.helpers import Shop


async def template(shop: Shop, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "满30减5", "kind": "amount_off", "value": 500}
    body.update(overrides)
    r = await shop.client.post("/v1/admin/coupons", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def claim(shop: Shop, member: dict[str, str], template_id: str) -> dict[str, Any]:
    r = await shop.client.post(f"/v1/coupons/{template_id}/claim", headers=member)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def member_id(client: httpx.AsyncClient, member: dict[str, str]) -> str:
    r = await client.get("/v1/me", headers=member)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def my_coupons(
    client: httpx.AsyncClient, member: dict[str, str], status: str | None = None
) -> list[dict[str, Any]]:
    params: dict[str, str | int] = {"limit": 100}
    if status:
        params["status"] = status
    r = await client.get("/v1/me/coupons", params=params, headers=member)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


def line(amount: int, product_id: str | None = None, category_id: str | None = None) -> CouponLine:
    return CouponLine(product_id=product_id, category_id=category_id, amount=amount)


async def quote(
    rt: Runtime, shop: Shop, member: str, coupon_id: str, lines: list[CouponLine]
) -> CouponQuote:
    async with rt.db.unit_of_work(write=False) as uow:
        return await service.quote(
            uow.session,
            merchant_id=shop.merchant_id,
            member_id=member,
            coupon_id=coupon_id,
            lines=lines,
            now=rt.clock.now(),
        )


async def lock(rt: Runtime, coupon_id: str, order_id: str | None = None) -> str:
    order_id = order_id or new_id()
    async with rt.db.unit_of_work() as uow:
        await service.lock(uow.session, coupon_id=coupon_id, order_id=order_id, now=rt.clock.now())
    return order_id


async def step(rt: Runtime, action: str, order_id: str, at: datetime | None = None) -> None:
    """release | redeem | restore, each in its own unit of work as orders would run it."""
    fn = {"release": service.release, "redeem": service.redeem, "restore": service.restore}
    async with rt.db.unit_of_work() as uow:
        await fn[action](uow.session, order_id=order_id, now=at or rt.clock.now())
