from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from growthloop.core.auth import (
    CurrentMember,
    OrdersFulfiller,
    OrdersReader,
    OrdersRefunder,
    SessionDep,
)
from growthloop.core.pagination import Page
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.orders import service
from growthloop.orders.presenters import order_out, orders_out
from growthloop.orders.schemas import (
    OrderIn,
    OrderListQuery,
    OrderOut,
    OrderPosition,
    OrderSource,
    OrderStatus,
    PayIn,
    PaymentStartOut,
    RedeemIn,
    decode_order_cursor,
    pickup_code_of,
)
from growthloop.payments.service import Gateways

router = APIRouter(route_class=UnitOfWorkRoute, tags=["orders"])

StatusQuery = Annotated[OrderStatus | None, Query()]


def _sane_day(day: date) -> date:
    if not 1970 <= day.year <= 2100:
        raise ValueError("the day must fall within the years 1970..2100")
    return day


LocalDay = Annotated[date, AfterValidator(_sane_day)]


@dataclass(frozen=True)
class OrderPageParams:
    limit: int
    after: OrderPosition | None


async def order_page(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=96)] = None,
) -> OrderPageParams:
    return OrderPageParams(limit, decode_order_cursor(cursor) if cursor else None)


OrderPage = Annotated[OrderPageParams, Depends(order_page)]


@router.post("/v1/orders", response_model=OrderOut, status_code=201)
async def create_order(
    body: OrderIn, member: CurrentMember, session: SessionDep, rt: RuntimeDep
) -> OrderOut:
    placed = await service.create_order(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        data=body,
        payment_window=timedelta(minutes=rt.settings.payment_window_minutes),
    )
    return await order_out(session, placed.order, placed.lines)


@router.get("/v1/orders", response_model=Page[OrderOut])
async def my_orders(
    member: CurrentMember, session: SessionDep, page: OrderPage, status: StatusQuery = None
) -> Page[OrderOut]:
    """Your orders, newest first by the time they were placed."""
    query = OrderListQuery(
        limit=page.limit, after=page.after, status=status, member_id=member.member_id
    )
    rows, cursor = await service.list_orders(session, member.merchant_id, query)
    return Page(items=await orders_out(session, rows), next_cursor=cursor)


@router.get("/v1/orders/{order_id}", response_model=OrderOut)
async def get_order(order_id: str, member: CurrentMember, session: SessionDep) -> OrderOut:
    order = await service.access_order(session, member.merchant_id, order_id, member.member_id)
    return await order_out(session, order)


@router.post("/v1/orders/{order_id}/pay", response_model=PaymentStartOut)
async def pay(
    order_id: str, body: PayIn, member: CurrentMember, session: SessionDep, rt: RuntimeDep
) -> PaymentStartOut:
    order = await service.access_order(session, member.merchant_id, order_id, member.member_id)
    payment_id, params = await service.start_payment(
        session, rt.part(Gateways), order, body.provider
    )
    return PaymentStartOut(
        payment_id=payment_id, provider=body.provider, amount=order.payable, params=params
    )


@router.post("/v1/orders/{order_id}/cancel", response_model=OrderOut)
async def cancel(
    order_id: str, member: CurrentMember, session: SessionDep, rt: RuntimeDep
) -> OrderOut:
    order = await service.access_order(session, member.merchant_id, order_id, member.member_id)
    order = await service.cancel(session, rt.part(Gateways), order, "cancelled_by_member")
    return await order_out(session, order)


@router.post("/v1/orders/{order_id}/refund", response_model=OrderOut)
async def member_refund(
    order_id: str, member: CurrentMember, session: SessionDep, rt: RuntimeDep
) -> OrderOut:
    """A member asks for their money back: granted at once while the order is paid and not
    yet handed over; a completed order is refunded by the store."""
    order = await service.access_order(session, member.merchant_id, order_id, member.member_id)
    order = await service.refund(
        session, rt.part(Gateways), order, by_operator=False, actor_id=member.member_id
    )
    return await order_out(session, order)


@router.get("/v1/admin/orders", response_model=Page[OrderOut])
async def admin_orders(
    *,
    session: SessionDep,
    page: OrderPage,
    status: StatusQuery = None,
    member_id: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[OrderSource | None, Query()] = None,
    pickup_code: Annotated[
        str | None,
        Query(min_length=1, max_length=8, description="取餐号; 1 and 0001 are the same."),
    ] = None,
    first_day: Annotated[
        LocalDay | None,
        Query(alias="from", description="YYYY-MM-DD, the first local day (merchant timezone)."),
    ] = None,
    last_day: Annotated[
        LocalDay | None, Query(alias="to", description="YYYY-MM-DD, the last local day.")
    ] = None,
    admin: OrdersReader,
) -> Page[OrderOut]:
    """The merchant's orders, newest first by the time they were placed (imported history
    by its own `ordered_at`, so today's orders come first). `from`/`to` are days in the
    merchant's timezone, both included; filters combine. 422 `invalid_date_range` when
    `from` is after `to`, `invalid_pickup_code` for a pickup code that is not a number."""
    query = OrderListQuery(
        limit=page.limit,
        after=page.after,
        status=status,
        member_id=member_id,
        source=source,
        pickup_code=pickup_code_of(pickup_code) if pickup_code is not None else None,
        first_day=first_day,
        last_day=last_day,
    )
    rows, cursor = await service.list_orders(session, admin.merchant_id, query)
    return Page(items=await orders_out(session, rows), next_cursor=cursor)


@router.get("/v1/admin/orders/{order_id}", response_model=OrderOut)
async def admin_get_order(order_id: str, session: SessionDep, admin: OrdersReader) -> OrderOut:
    order = await service.access_order(session, admin.merchant_id, order_id)
    return await order_out(session, order)


@router.post("/v1/admin/orders/{order_id}/refund", response_model=OrderOut)
async def admin_refund(
    order_id: str, session: SessionDep, rt: RuntimeDep, admin: OrdersRefunder
) -> OrderOut:
    order = await service.access_order(session, admin.merchant_id, order_id)
    order = await service.refund(
        session, rt.part(Gateways), order, by_operator=True, actor_id=admin.admin_id
    )
    return await order_out(session, order)


@router.post("/v1/admin/orders/{order_id}/complete", response_model=OrderOut)
async def admin_complete(order_id: str, session: SessionDep, admin: OrdersFulfiller) -> OrderOut:
    order = await service.access_order(session, admin.merchant_id, order_id)
    order = await service.complete(session, order)
    return await order_out(session, order)


@router.post("/v1/admin/orders/redeem", response_model=OrderOut)
async def admin_redeem(body: RedeemIn, session: SessionDep, admin: OrdersFulfiller) -> OrderOut:
    """核销: the store scans or types the order's verification code; it works once."""
    order = await service.redeem(session, admin.merchant_id, body.code)
    return await order_out(session, order)
