from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.sql import increment, mark_committed, sweep_batch, table_of, where_given
from growthloop.orders.models import Order, OrderItem, PickupSequence


async def get_order(session: AsyncSession, order_id: str) -> Order | None:
    return await session.get(Order, order_id)


async def items_of(session: AsyncSession, order_ids: Sequence[str]) -> dict[str, list[OrderItem]]:
    out: dict[str, list[OrderItem]] = {oid: [] for oid in order_ids}
    if not order_ids:
        return out
    stmt = select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.id)
    for item in (await session.execute(stmt)).scalars():
        out[item.order_id].append(item)
    return out


async def list_orders(
    session: AsyncSession,
    merchant_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    member_id: str | None = None,
    status: str | None = None,
    source: str | None = None,
    pickup_code: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Order]:
    """Up to `limit + 1` orders, newest first by the time they were placed (`created_at`,
    which imported history sets to its `ordered_at`), ties by id; `after` continues past
    (created_at, id); `since` <= created_at < `until`."""
    stmt = where_given(
        select(Order).where(Order.merchant_id == merchant_id),
        (Order.member_id, member_id),
        (Order.status, status),
        (Order.source, source),
        (Order.pickup_code, pickup_code),
    )
    if since is not None:
        stmt = stmt.where(Order.created_at >= since)
    if until is not None:
        stmt = stmt.where(Order.created_at < until)
    if after is not None:
        at, order_id = after
        stmt = stmt.where(
            or_(Order.created_at < at, and_(Order.created_at == at, Order.id < order_id))
        )
    stmt = stmt.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def placed_at(session: AsyncSession, merchant_id: str, order_id: str) -> datetime | None:
    stmt = select(Order.created_at).where(Order.merchant_id == merchant_id, Order.id == order_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def totals_by_member(
    session: AsyncSession, merchant_id: str, member_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """member id -> (orders, spend in fen) of its paid and completed orders (imported history
    included; pending, cancelled and refunded ones not)."""
    if not member_ids:
        return {}
    stmt = (
        select(Order.member_id, func.count(), func.coalesce(func.sum(Order.payable), 0))
        .where(
            Order.merchant_id == merchant_id,
            Order.member_id.in_(list(member_ids)),
            Order.status.in_(("paid", "completed")),
        )
        .group_by(Order.member_id)
    )
    return {m: (int(n), int(spend)) for m, n, spend in await session.execute(stmt) if m}


async def due_for_expiry(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    stmt = select(Order.id).where(Order.status == "pending_payment", Order.expires_at <= now)
    return list((await session.execute(sweep_batch(stmt, Order.expires_at, limit))).scalars())


async def next_pickup_number(session: AsyncSession, merchant_id: str, day: date) -> int:
    return await increment(
        session, PickupSequence, {"merchant_id": merchant_id, "day": day}, "value"
    )


_SET_PICKUP_CODE = (
    update(table_of(Order))
    .where(table_of(Order).c.id == bindparam("b_id"))
    .values(pickup_code=bindparam("b_code"))
)


async def set_pickup_code(session: AsyncSession, order: Order, code: str) -> None:
    await session.execute(_SET_PICKUP_CODE, {"b_id": order.id, "b_code": code})
    mark_committed(order, pickup_code=code)


async def order_by_verify_code(session: AsyncSession, merchant_id: str, code: str) -> Order | None:
    stmt = select(Order).where(Order.merchant_id == merchant_id, Order.verify_code == code)
    return (await session.execute(stmt)).scalar_one_or_none()


async def order_by_external_ref(session: AsyncSession, merchant_id: str, ref: str) -> Order | None:
    stmt = select(Order).where(Order.merchant_id == merchant_id, Order.external_ref == ref)
    return (await session.execute(stmt)).scalar_one_or_none()


async def count_paid_orders(session: AsyncSession, merchant_id: str, member_id: str) -> int:
    """Orders of the member that were paid at some point (refunded ones included)."""
    stmt = select(func.count()).where(
        Order.merchant_id == merchant_id,
        Order.member_id == member_id,
        Order.paid_at.is_not(None),
    )
    return int((await session.execute(stmt)).scalar_one())
