"""Helpers for campaign tests: many members at once, sales, and reading the books."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from growthloop.campaigns.flash_sales.models import FlashSalePurchase
from growthloop.core.runtime import Runtime
from growthloop.identity.models import Member
from tests.helpers import Shop, bearer


async def bulk_members(shop: Shop, n: int) -> list[dict[str, str]]:
    """`n` members with tokens, written in one transaction (logging 500 members in one
    by one would dominate a concurrency test's time and test nothing about the race)."""
    rt = shop.rt
    now = rt.clock.now()
    async with rt.db.unit_of_work() as uow:
        members = [
            Member(
                merchant_id=shop.merchant_id, status="active", signup_platform="dev", created_at=now
            )
            for _ in range(n)
        ]
        uow.session.add_all(members)
        await uow.session.flush()
        ids = [m.id for m in members]
    return [
        bearer(rt.tokens.issue("member", mid, shop.merchant_id, now, timedelta(days=1)))
        for mid in ids
    ]


def sale_body(product_id: str, now: datetime, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_id": product_id,
        "price": 990,
        "stock": 10,
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "per_member_limit": 1,
    }
    body.update(overrides)
    return body


async def flash_sale(shop: Shop, product_id: str, **overrides: Any) -> dict[str, Any]:
    r = await shop.client.post(
        "/v1/admin/flash-sales",
        json=sale_body(product_id, shop.rt.clock.now(), **overrides),
        headers=shop.admin,
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def purchases(rt: Runtime, sale_id: str) -> list[tuple[str, int, str]]:
    """(member, quantity, status) of every purchase of the sale."""
    async with rt.db.unit_of_work(write=False) as uow:
        p = FlashSalePurchase
        rows = await uow.session.execute(
            select(p.member_id, p.quantity, p.status).where(p.flash_sale_id == sale_id)
        )
        return [(m, q, s) for m, q, s in rows]


async def count_rows(rt: Runtime, model: Any, *where: Any) -> int:
    async with rt.db.unit_of_work(write=False) as uow:
        stmt = select(func.count()).select_from(model).where(*where)
        return int((await uow.session.execute(stmt)).scalar_one())


async def group_buy(shop: Shop, product_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_id": product_id,
        "group_price": 990,
        "group_size": 3,
        "duration_minutes": 60,
    }
    body.update(overrides)
    r = await shop.client.post("/v1/admin/group-buys", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def open_group(shop: Shop, group_buy_id: str, member: dict[str, str]) -> dict[str, Any]:
    r = await shop.client.post(f"/v1/group-buys/{group_buy_id}/groups", headers=member)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def join_group(shop: Shop, group_id: str, member: dict[str, str]) -> dict[str, Any]:
    r = await shop.client.post(f"/v1/groups/{group_id}/join", headers=member)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def group(shop: Shop, group_id: str) -> dict[str, Any]:
    r = await shop.client.get(f"/v1/groups/{group_id}", params={"merchant_id": shop.merchant_id})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def order_status(shop: Shop, member: dict[str, str], order_id: str) -> str:
    r = await shop.client.get(f"/v1/orders/{order_id}", headers=member)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])
