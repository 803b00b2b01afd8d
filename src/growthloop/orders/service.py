"""Orders: checkout, the state machine, pickup codes, refunds. Never commits.

    pending_payment --pay--> paid --complete/redeem--> completed
          |                   |                          |
          +--cancel/expire--> cancelled    refunded <----+ (operator)
                              paid --refund--> refunded

Stock is reserved at checkout by guarded updates and returned when the order is
cancelled, expires, or is refunded before it was handed over.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.catalog import service as catalog
from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.context import merchant_timezone, merchant_today, now, uow_of
from growthloop.core.errors import Forbidden
from growthloop.core.events import emit
from growthloop.core.ownership import get_owned
from growthloop.core.sql import insert_now, move_status
from growthloop.loyalty import service as loyalty
from growthloop.orders import pricing
from growthloop.orders import repository as repo
from growthloop.orders.errors import (
    AlreadyRedeemed,
    CodeCollision,
    CodeNotFound,
    InvalidDateRange,
    InvalidTransition,
    OrderExpired,
    OrderNotFound,
    OrderNotPayable,
    RefundNeedsOperator,
)
from growthloop.orders.events import (
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderPaid,
    OrderRefunded,
)
from growthloop.orders.models import LATE_PAYMENT_REFUND, ORDER_REFUND, Order, OrderItem
from growthloop.orders.presenters import order_out as order_out  # for the campaigns
from growthloop.orders.schemas import OrderIn, OrderListQuery, encode_order_cursor, id_time
from growthloop.payments import service as payments
from growthloop.payments.events import PaymentSucceeded, RefundSucceeded
from growthloop.payments.service import Gateways
from growthloop.promotions import service as promotions

log = logging.getLogger("growthloop.orders")


class _OrderFields(TypedDict):
    merchant_id: str
    member_id: str | None
    order_id: str
    status: str
    payable: int
    subtotal: int
    source: str
    campaign_kind: str | None


def _fields(order: Order) -> _OrderFields:
    """What every order event says about its order, as it stands after the change."""
    return _OrderFields(
        merchant_id=order.merchant_id,
        member_id=order.member_id,
        order_id=order.id,
        status=order.status,
        payable=order.payable,
        subtotal=order.subtotal,
        source=order.source,
        campaign_kind=order.campaign_kind,
    )


# ---- reading -------------------------------------------------------------------------


async def access_order(
    session: AsyncSession, merchant_id: str, order_id: str, member_id: str | None = None
) -> Order:
    """The order if it exists (404), is this merchant's (403) and, for a member, theirs (403)."""
    order = await get_owned(session, Order, order_id, merchant_id, OrderNotFound(order_id=order_id))
    if member_id is not None and order.member_id != member_id:
        raise Forbidden("This order belongs to another member.")
    return order


async def count_paid_orders(session: AsyncSession, merchant_id: str, member_id: str) -> int:
    """How many of the member's orders were ever paid (this one included, once paid)."""
    return await repo.count_paid_orders(session, merchant_id, member_id)


async def list_orders(
    session: AsyncSession, merchant_id: str, query: OrderListQuery
) -> tuple[list[Order], str | None]:
    """Newest first by the time each order was placed; local days in the merchant's
    timezone. A bare-id cursor (given out before) continues after that order."""
    if query.first_day and query.last_day and query.first_day > query.last_day:
        raise InvalidDateRange(
            **{"from": query.first_day.isoformat(), "to": query.last_day.isoformat()}
        )
    since = until = None
    if query.first_day or query.last_day:
        tz = ZoneInfo(await merchant_timezone(session, merchant_id))
        if query.first_day:
            since = datetime.combine(query.first_day, time(0), tz).astimezone(UTC)
        if query.last_day:
            until = datetime.combine(query.last_day + timedelta(days=1), time(0), tz)
            until = until.astimezone(UTC)
    after = None
    if query.after is not None:
        at = query.after.at or await repo.placed_at(session, merchant_id, query.after.id)
        after = (at or id_time(query.after.id), query.after.id)
    rows = await repo.list_orders(
        session,
        merchant_id,
        limit=query.limit,
        after=after,
        member_id=query.member_id,
        status=query.status,
        source=query.source,
        pickup_code=query.pickup_code,
        since=since,
        until=until,
    )
    cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        cursor = encode_order_cursor(rows[-1].created_at, rows[-1].id)
    return rows, cursor


async def order_totals(
    session: AsyncSession, merchant_id: str, member_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """member id -> (orders, spend in fen), counting paid and completed orders (imported
    history included), as RFM does; members without such orders are left out."""
    return await repo.totals_by_member(session, merchant_id, member_ids)


# ---- checkout ------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignPrice:
    """An order item sold at a campaign's price: set by a campaign (flash sale, group buy,
    bargain) that vetted the member and its own stock, never by a client. `price` replaces
    the product's price for one unit; chosen options still add their price deltas. A member
    is never charged more than the regular price: a campaign price above it counts as the
    regular price (and the line stays a campaign line)."""

    kind: pricing.CampaignKind
    price: int  # fen, >= 1
    campaign_id: str | None = None
    # The campaign's instance the line belongs to (the group of a group buy, the bargain
    # instance of a bargain): `campaign_ref` on the line, so the order shows it.
    ref: str | None = None
    # The campaign took the units from its own pool: checkout leaves the product's stock
    # alone, and a cancelled order's units go back to the campaign (its subscriber does it).
    holds_stock: bool = False


def _campaign(
    campaign: CampaignPrice | None, regular_base: int, delta: int
) -> tuple[int, pricing.Campaign | None]:
    """The line's base price and campaign: the campaign's price, capped at the regular one."""
    if campaign is None:
        return regular_base, None
    if campaign.price < 1:
        raise pricing.PricingError("a campaign price is at least 1 fen")
    return min(campaign.price, regular_base), pricing.Campaign(campaign.kind, regular_base + delta)


@dataclass(frozen=True)
class PlacedOrder:
    """A new order with the lines it was written with: its answer needs no read back."""

    order: Order
    lines: list[OrderItem]


async def create_order(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    data: OrderIn,
    payment_window: timedelta,
    campaigns: Sequence[CampaignPrice | None] | None = None,
) -> PlacedOrder:
    """Price the order server-side (see `pricing`), then hold its stock, coupon and points
    until it is paid, cancelled or its payment window ends (the stock is taken when the
    transaction commits). `campaigns`, one per item (None
    for an item at its regular price), is how campaigns create orders at their prices."""
    at = now(session)
    if campaigns is not None and len(campaigns) != len(data.items):
        raise ValueError("campaigns has one entry per order item")
    products = await catalog.products_for_order(
        session, merchant_id, [item.product_id for item in data.items]
    )
    lines, chosen_options = [], []
    line_campaigns = list(campaigns) if campaigns is not None else [None] * len(data.items)
    for item, line_campaign in zip(data.items, line_campaigns, strict=True):
        product = products[item.product_id]
        chosen = catalog.choose_options(product, item.options)
        base_price, campaign = _campaign(line_campaign, product.price, chosen.price_delta)
        lines.append(
            pricing.Line(
                product_id=product.id,
                name=product.name,
                base_price=base_price,
                option_delta=chosen.price_delta,
                quantity=item.quantity,
                category_id=product.category_id,
                campaign=campaign,
            )
        )
        chosen_options.append(chosen.values)
    tier_percent = await loyalty.tier_discount_percent(session, merchant_id, member_id)
    coupon_discount = 0
    if data.coupon_id is not None:
        quote = await promotions.quote(
            session,
            merchant_id=merchant_id,
            member_id=member_id,
            coupon_id=data.coupon_id,
            lines=[
                promotions.CouponLine(
                    line.product_id, line.category_id, amount, campaign=line.campaign is not None
                )
                for line, amount in zip(lines, pricing.after_tier(lines, tier_percent), strict=True)
            ],
            now=at,
        )
        coupon_discount = quote.discount
    before_points = pricing.price(lines, tier_percent=tier_percent, coupon_discount=coupon_discount)
    points_deduction = 0
    if data.points:
        points_deduction = (
            await loyalty.quote_points(session, merchant_id, data.points, before_points.payable)
        ).deduction
    breakdown = pricing.price(
        lines,
        tier_percent=tier_percent,
        coupon_discount=coupon_discount,
        points_deduction=points_deduction,
    )
    quantities: Counter[str] = Counter()
    for item, line_campaign in zip(data.items, line_campaigns, strict=True):
        if line_campaign is None or not line_campaign.holds_stock:
            quantities[item.product_id] += item.quantity
    catalog.check_stock(products, quantities)
    # Taken last, just before the commit: the product's row stays locked (on PostgreSQL)
    # for the commit alone, not while the order, its lines and its events are written.
    # Not enough left by then: SoldOut, and the whole order rolls back.
    uow_of(session).before_commit(partial(catalog.reserve_stock, session, merchant_id, quantities))
    order = Order(
        merchant_id=merchant_id,
        member_id=member_id,
        status="pending_payment",
        source="app",
        subtotal=breakdown.subtotal,
        campaign_discount=breakdown.campaign_discount,
        tier_discount=breakdown.tier_discount,
        coupon_discount=breakdown.coupon_discount,
        discount=breakdown.discount,
        points_deduction=breakdown.points_deduction,
        payable=breakdown.payable,
        coupon_id=data.coupon_id,
        campaign_kind=next((line.campaign.kind for line in lines if line.campaign), None),
        points_used=data.points or 0,
        expires_at=at + payment_window,
        created_at=at,
    )
    await insert_now(session, [order])
    items = [
        OrderItem(
            merchant_id=merchant_id,
            order_id=order.id,
            product_id=line.product_id,
            name=line.name,
            unit_price=line.unit_price,
            quantity=line.quantity,
            options=values,
            line_total=line.total,
            campaign_kind=line.campaign.kind if line.campaign else None,
            regular_unit_price=line.campaign.regular_price if line.campaign else None,
            campaign_id=line_campaign.campaign_id if line_campaign else None,
            campaign_ref=line_campaign.ref if line_campaign else None,
            stock_source="campaign" if line_campaign and line_campaign.holds_stock else "product",
        )
        for line, values, line_campaign in zip(lines, chosen_options, line_campaigns, strict=True)
    ]
    await insert_now(session, items)
    if data.coupon_id is not None:
        await promotions.lock(session, coupon_id=data.coupon_id, order_id=order.id, now=at)
    if data.points:
        await loyalty.hold_points(session, merchant_id, member_id, order.id, data.points)
    await emit(session, OrderCreated(**_fields(order), items=len(lines)))
    return PlacedOrder(order, items)


async def move_campaign_ref(
    session: AsyncSession, order_id: str, campaign_id: str, ref: str
) -> None:
    """The order's lines of campaign `campaign_id` now belong to its instance `ref` (a
    payer who found their group full was seated in another)."""
    for item in (await repo.items_of(session, [order_id]))[order_id]:
        if item.campaign_id == campaign_id:
            item.campaign_ref = ref


async def start_payment(
    session: AsyncSession, gateways: Gateways, order: Order, provider: str
) -> tuple[str, dict[str, object]]:
    if order.status != "pending_payment":
        raise OrderNotPayable(status=order.status)
    if order.expires_at is not None and now(session) >= order.expires_at:
        raise OrderExpired(expired_at=order.expires_at.isoformat())
    payment, params = await payments.start_payment(
        session,
        gateways,
        merchant_id=order.merchant_id,
        order_id=order.id,
        member_id=order.member_id,
        amount=order.payable,
        provider=provider,
        description=f"order {order.id}",
    )
    return payment.id, params


# ---- reactions to payments (in-transaction subscribers) ------------------------------


async def on_payment_succeeded(
    session: AsyncSession, event: PaymentSucceeded, gateways: Gateways
) -> None:
    """A verified payment pays its order (a pickup number for the day, a verification
    code); a payment for an order that can no longer be paid goes back to the payer."""
    at = now(session)
    order = await repo.get_order(session, event.order_id)
    if order is not None and order.status == "pending_payment":
        try:
            moved = await move_status(
                session,
                order,
                "pending_payment",
                "paid",
                paid_at=at,
                verify_code=f"{secrets.randbelow(10**12):012d}",
            )
        except IntegrityError:
            raise CodeCollision() from None
        if moved:
            day = await merchant_today(session, order.merchant_id)
            uow_of(session).before_commit(partial(_number_for_pickup, session, order, day))
            if order.coupon_id is not None:  # only create_order locks a coupon to an order
                await promotions.redeem(session, order_id=order.id, now=at)
            await emit(session, OrderPaid(**_fields(order), provider=event.provider))
            return
    # The order expired, was cancelled or was paid by another payment: the money goes back.
    log.warning(
        "payment for an order that cannot be paid: refunding it",
        extra={
            "order_id": event.order_id,
            "payment_id": event.payment_id,
            "amount": event.amount,
            "order_status": order.status if order is not None else None,
        },
    )
    payment = await payments.access_payment(session, event.payment_id)
    await payments.refund(
        session,
        gateways,
        payment=payment,
        merchant_id=payment.merchant_id,
        refund_no=f"RP{payment.id}",
        amount=payment.amount,
        reason=LATE_PAYMENT_REFUND,
    )


async def _number_for_pickup(session: AsyncSession, order: Order, day: date) -> None:
    """The day's pickup number, taken last in the paying transaction: every paid order of
    the merchant that day counts on the same row, whose lock (on PostgreSQL) is then held
    for the commit alone, not through every handler of `order.paid`."""
    number = await repo.next_pickup_number(session, order.merchant_id, day)
    await repo.set_pickup_code(session, order, f"{number:04d}")


async def on_refund_succeeded(session: AsyncSession, event: RefundSucceeded) -> None:
    """The order's own refund went through: the order is refunded, its coupon comes back
    and, if it was not handed over, its goods go back on the shelf."""
    if event.reason != ORDER_REFUND:
        return
    order = await repo.get_order(session, event.order_id)
    if order is None or order.status not in ("paid", "completed"):
        return
    was = order.status
    at = now(session)
    if await move_status(session, order, was, "refunded", refunded_at=at):
        await promotions.restore(session, order_id=order.id, now=at)
        if was == "paid":  # not handed over: the goods go back on the shelf
            await catalog.release_stock(
                session, order.merchant_id, await _quantities(session, order)
            )
        await emit(session, OrderRefunded(**_fields(order), refund_amount=event.amount))


# ---- state changes -------------------------------------------------------------------


async def _quantities(
    session: AsyncSession, order: Order, *, with_campaign_stock: bool = True
) -> Counter[str]:
    """Units per product. A cancelled order's campaign-held units are not the product's to
    take back (`with_campaign_stock=False`): its campaign returns them to its own pool. A
    refunded order's units, sold and brought back, go back on the product's shelf."""
    quantities: Counter[str] = Counter()
    for item in (await repo.items_of(session, [order.id]))[order.id]:
        if item.product_id and (with_campaign_stock or item.stock_source == "product"):
            quantities[item.product_id] += item.quantity
    return quantities


async def cancel(session: AsyncSession, gateways: Gateways, order: Order, reason: str) -> Order:
    at = now(session)
    moved = await move_status(
        session, order, "pending_payment", "cancelled", cancelled_at=at, cancel_reason=reason
    )
    if not moved:
        await session.refresh(order)
        raise InvalidTransition(
            "Only an order pending payment can be cancelled; a paid one can be refunded.",
            status=order.status,
        )
    await catalog.release_stock(
        session, order.merchant_id, await _quantities(session, order, with_campaign_stock=False)
    )
    await promotions.release(session, order_id=order.id, now=at)
    await payments.close_open_payments(session, gateways, order.id)
    await emit(session, OrderCancelled(**_fields(order), reason=reason))
    return order


async def refund(
    session: AsyncSession,
    gateways: Gateways,
    order: Order,
    *,
    by_operator: bool,
    actor_id: str | None = None,
    actor_type: str | None = None,
) -> Order:
    """`actor_type`: who asked, for the audit log; by default the operator or the member
    (`system` when a campaign refunds, e.g. a group that failed)."""
    if order.status == "completed" and not by_operator:
        raise RefundNeedsOperator()
    if order.status not in ("paid", "completed"):
        raise InvalidTransition(
            "Only a paid or completed order can be refunded.", status=order.status
        )
    await audit.record(
        session,
        merchant_id=order.merchant_id,
        actor_type=actor_type or ("admin" if by_operator else "member"),
        actor_id=actor_id,
        action=Action.ORDER_REFUND,
        subject_type="order",
        subject_id=order.id,
        member_id=order.member_id,
        amount=order.payable,
        status_before=order.status,
    )
    payment = await payments.paid_payment(session, order.id)
    if payment is None:  # imported history: nothing to pay back through a provider
        was = order.status
        if await move_status(session, order, was, "refunded", refunded_at=now(session)):
            await emit(session, OrderRefunded(**_fields(order), refund_amount=order.payable))
        return order
    await payments.refund(
        session,
        gateways,
        payment=payment,
        merchant_id=order.merchant_id,
        refund_no=f"RO{order.id}",
        amount=order.payable,
        reason=ORDER_REFUND,
    )
    # When the provider confirmed at once, the refund.succeeded subscriber moved `order`.
    return order


async def complete(session: AsyncSession, order: Order) -> Order:
    if not await move_status(session, order, "paid", "completed", completed_at=now(session)):
        await session.refresh(order)
        if order.status == "completed":
            raise AlreadyRedeemed("This order was already completed.")
        raise InvalidTransition("Only a paid order can be completed.", status=order.status)
    await emit(session, OrderCompleted(**_fields(order)))
    return order


async def redeem(session: AsyncSession, merchant_id: str, code: str) -> Order:
    order = await repo.order_by_verify_code(session, merchant_id, code)
    if order is None:
        raise CodeNotFound()
    return await complete(session, order)
