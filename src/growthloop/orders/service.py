"""Orders: checkout, the state machine, pickup codes, refunds. Never commits.

    pending_payment --pay--> paid --complete/redeem--> completed
          |                   |                          |
          +--cancel/expire--> cancelled    refunded <----+ (operator)
                              paid --refund--> refunded

Stock is reserved at checkout by guarded updates and returned when the order is
cancelled, expires, or is refunded before it was handed over.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.catalog import service as catalog
from growthloop.core import audit
from growthloop.core.auth import ensure_same_merchant
from growthloop.core.clock import Clock
from growthloop.core.context import context_of
from growthloop.core.db import Database
from growthloop.core.errors import Forbidden, ServiceUnavailable
from growthloop.core.events import DomainEvent, NamedEvent, emit
from growthloop.identity import service as identity
from growthloop.loyalty import service as loyalty
from growthloop.orders import pricing
from growthloop.orders import repository as repo
from growthloop.orders.errors import (
    AlreadyRedeemed,
    CodeNotFound,
    InvalidDateRange,
    InvalidTransition,
    OrderExpired,
    OrderNotFound,
    OrderNotPayable,
    RefundNeedsOperator,
)
from growthloop.orders.models import Order, OrderItem
from growthloop.orders.schemas import (
    BreakdownLine,
    OrderIn,
    OrderItemOut,
    OrderListQuery,
    OrderOut,
    RefundOut,
    encode_order_cursor,
    id_time,
)
from growthloop.payments import service as payments
from growthloop.payments.service import PaymentGateway
from growthloop.promotions import service as promotions

Gateways = Mapping[str, PaymentGateway]
ORDER_REFUND = "order_refund"
LATE_PAYMENT_REFUND = "order_not_payable"


def _clock(session: AsyncSession) -> Clock:
    clock = context_of(session).clock
    assert isinstance(clock, Clock)
    return clock


async def _event(session: AsyncSession, name: str, order: Order, **extra: object) -> None:
    payload = {
        "order_id": order.id,
        "status": order.status,
        "payable": order.payable,
        "subtotal": order.subtotal,
        "source": order.source,
        **extra,
    }
    await emit(session, NamedEvent(name, order.merchant_id, payload, order.member_id))


# ---- reading -------------------------------------------------------------------------


async def order_out(session: AsyncSession, order: Order) -> OrderOut:
    return (await orders_out(session, [order]))[0]


async def orders_out(session: AsyncSession, orders: list[Order]) -> list[OrderOut]:
    items = await repo.items_of(session, [o.id for o in orders])
    out = []
    for order in orders:
        refunds = await payments.refunds_of_order(session, order.id) if order.paid_at else []
        own = [r for r in refunds if r.reason == ORDER_REFUND]
        out.append(
            OrderOut(
                id=order.id,
                status=order.status,
                member_id=order.member_id,
                source=order.source,
                subtotal=order.subtotal,
                campaign_discount=order.campaign_discount,
                tier_discount=order.tier_discount,
                coupon_discount=order.coupon_discount,
                discount=order.discount,
                points_deduction=order.points_deduction,
                payable=order.payable,
                breakdown=_breakdown(order),
                coupon_id=order.coupon_id,
                points_used=order.points_used,
                items=[
                    OrderItemOut(
                        product_id=i.product_id,
                        name=i.name,
                        quantity=i.quantity,
                        unit_price=i.unit_price,
                        options=i.options,
                        line_total=i.line_total,
                        campaign_kind=cast(pricing.CampaignKind | None, i.campaign_kind),
                        regular_unit_price=i.regular_unit_price,
                        campaign_id=i.campaign_id,
                        campaign_ref=i.campaign_ref,
                    )
                    for i in items[order.id]
                ],
                expires_at=order.expires_at if order.status == "pending_payment" else None,
                pickup_code=order.pickup_code,
                verify_code=order.verify_code,
                created_at=order.created_at,
                paid_at=order.paid_at,
                completed_at=order.completed_at,
                cancelled_at=order.cancelled_at,
                cancel_reason=order.cancel_reason,
                refunded_at=order.refunded_at,
                refund=(
                    RefundOut(
                        refund_no=own[0].refund_no, amount=own[0].amount, status=own[0].status
                    )
                    if own
                    else None
                ),
            )
        )
    return out


def _breakdown(order: Order) -> list[BreakdownLine]:
    """The price line by line, in the order it was computed; the amounts sum to payable."""
    head = [BreakdownLine(code="subtotal", label="商品小计", amount=order.subtotal)]
    if order.campaign_discount:
        head = [
            BreakdownLine(
                code="regular_subtotal",
                label="商品原价",
                amount=order.subtotal + order.campaign_discount,
            ),
            BreakdownLine(
                code="campaign_discount", label="活动优惠", amount=-order.campaign_discount
            ),
        ]
    steps = [
        BreakdownLine(code="tier_discount", label="会员折扣", amount=-order.tier_discount),
        BreakdownLine(code="coupon_discount", label="优惠券", amount=-order.coupon_discount),
        BreakdownLine(
            code="points_deduction",
            label=f"积分抵扣（{order.points_used} 积分）",
            amount=-order.points_deduction,
        ),
    ]
    kept = [*head, *(step for step in steps if step.amount)]
    return [*kept, BreakdownLine(code="payable", label="实付", amount=order.payable)]


async def access_order(
    session: AsyncSession, merchant_id: str, order_id: str, member_id: str | None = None
) -> Order:
    """The order if it exists (404), is this merchant's (403) and, for a member, theirs (403)."""
    order = await repo.get_order(session, order_id)
    if order is None:
        raise OrderNotFound(order_id=order_id)
    ensure_same_merchant(order.merchant_id, merchant_id)
    if member_id is not None and order.member_id != member_id:
        raise Forbidden("This order belongs to another member.")
    return order


async def count_paid_orders(session: AsyncSession, merchant_id: str, member_id: str) -> int:
    """How many of the member's orders were ever paid (this one included, once paid)."""
    return await repo.count_paid_orders(session, merchant_id, member_id)


async def list_orders(
    session: AsyncSession, merchant_id: str, query: OrderListQuery
) -> tuple[list[OrderOut], str | None]:
    """Newest first by the time each order was placed; local days in the merchant's
    timezone. A bare-id cursor (given out before) continues after that order."""
    if query.first_day and query.last_day and query.first_day > query.last_day:
        raise InvalidDateRange(
            **{"from": query.first_day.isoformat(), "to": query.last_day.isoformat()}
        )
    since = until = None
    if query.first_day or query.last_day:
        tz = ZoneInfo(await identity.merchant_timezone(session, merchant_id))
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
    return await orders_out(session, rows), cursor


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


async def create_order(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    data: OrderIn,
    payment_window: timedelta,
    campaigns: Sequence[CampaignPrice | None] | None = None,
) -> Order:
    """Price the order server-side (see `pricing`), then hold its stock, coupon and points
    until it is paid, cancelled or its payment window ends. `campaigns`, one per item (None
    for an item at its regular price), is how campaigns create orders at their prices."""
    now = _clock(session).now()
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
            now=now,
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
    await catalog.reserve_stock(session, merchant_id, quantities)
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
        points_used=data.points or 0,
        expires_at=now + payment_window,
        created_at=now,
    )
    session.add(order)
    await session.flush()
    session.add_all(
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
    )
    await session.flush()
    if data.coupon_id is not None:
        await promotions.lock(session, coupon_id=data.coupon_id, order_id=order.id, now=now)
    if data.points:
        await loyalty.hold_points(session, merchant_id, member_id, order.id, data.points)
    await _event(session, "order.created", order, items=len(lines))
    return order


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
    now = _clock(session).now()
    if order.status != "pending_payment":
        raise OrderNotPayable(status=order.status)
    if order.expires_at is not None and now >= order.expires_at:
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
        now=now,
    )
    return payment.id, params


# ---- reactions to payments (in-transaction subscribers) ------------------------------


class CodeCollision(ServiceUnavailable):
    code = "try_again"
    message = "A one-in-a-trillion code collision; the platform's retry will succeed."


async def on_payment_succeeded(
    session: AsyncSession, event: DomainEvent, gateways: Gateways
) -> None:
    clock = _clock(session)
    now = clock.now()
    order = await repo.get_order(session, str(event.payload["order_id"]))
    if order is not None and order.status == "pending_payment":
        tz = await identity.merchant_timezone(session, order.merchant_id)
        number = await repo.next_pickup_number(session, order.merchant_id, clock.today(tz))
        try:
            moved = await repo.transition(
                session,
                order,
                ["pending_payment"],
                "paid",
                paid_at=now,
                pickup_code=f"{number:04d}",
                verify_code=f"{secrets.randbelow(10**12):012d}",
            )
        except IntegrityError:
            raise CodeCollision() from None
        if moved:
            await promotions.redeem(session, order_id=order.id, now=now)
            await _event(session, "order.paid", order, provider=event.payload.get("provider"))
            return
    # The order expired, was cancelled or was paid by another payment: the money goes back.
    payment = await payments.access_payment(session, str(event.payload["payment_id"]))
    await payments.refund(
        session,
        gateways,
        payment=payment,
        merchant_id=payment.merchant_id,
        refund_no=f"RP{payment.id}",
        amount=payment.amount,
        reason=LATE_PAYMENT_REFUND,
        now=now,
    )


async def on_refund_succeeded(session: AsyncSession, event: DomainEvent) -> None:
    if event.payload.get("reason") != ORDER_REFUND:
        return
    order = await repo.get_order(session, str(event.payload["order_id"]))
    if order is None or order.status not in ("paid", "completed"):
        return
    was = order.status
    now = _clock(session).now()
    if await repo.transition(session, order, [was], "refunded", refunded_at=now):
        await promotions.restore(session, order_id=order.id, now=now)
        if was == "paid":  # not handed over: the goods go back on the shelf
            await catalog.release_stock(
                session, order.merchant_id, await _quantities(session, order)
            )
        await _event(session, "order.refunded", order, refund_amount=event.payload["amount"])


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
    now = _clock(session).now()
    moved = await repo.transition(
        session, order, ["pending_payment"], "cancelled", cancelled_at=now, cancel_reason=reason
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
    await promotions.release(session, order_id=order.id, now=now)
    await payments.close_open_payments(session, gateways, order.id)
    await _event(session, "order.cancelled", order, reason=reason)
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
    now = _clock(session).now()
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
        action="order.refund",
        subject_type="order",
        subject_id=order.id,
        member_id=order.member_id,
        amount=order.payable,
        status_before=order.status,
    )
    payment = await payments.paid_payment(session, order.id)
    if payment is None:  # imported history: nothing to pay back through a provider
        was = order.status
        if await repo.transition(session, order, [was], "refunded", refunded_at=now):
            await _event(session, "order.refunded", order, refund_amount=order.payable)
        return order
    await payments.refund(
        session,
        gateways,
        payment=payment,
        merchant_id=order.merchant_id,
        refund_no=f"RO{order.id}",
        amount=order.payable,
        reason=ORDER_REFUND,
        now=now,
    )
    # When the provider confirmed at once, the refund.succeeded subscriber moved `order`.
    return order


async def complete(session: AsyncSession, order: Order) -> Order:
    now = _clock(session).now()
    if not await repo.transition(session, order, ["paid"], "completed", completed_at=now):
        await session.refresh(order)
        if order.status == "completed":
            raise AlreadyRedeemed("This order was already completed.")
        raise InvalidTransition("Only a paid order can be completed.", status=order.status)
    await _event(session, "order.completed", order)
    return order


async def redeem(session: AsyncSession, merchant_id: str, code: str) -> Order:
    order = await repo.order_by_verify_code(session, merchant_id, code)
    if order is None:
        raise CodeNotFound()
    return await complete(session, order)


# ---- sweeps --------------------------------------------------------------------------


async def expire_due_orders(
    db: Database, gateways: Gateways, clock: Clock, batch: int = 100
) -> int:
    """Cancel orders whose payment window ended and return their stock. Idempotent and
    safe with several workers: rows are claimed with SKIP LOCKED, moved by guarded updates."""
    total = 0
    while True:
        async with db.unit_of_work() as uow:
            ids = await repo.due_for_expiry(uow.session, clock.now(), batch)
            for order_id in ids:
                order = await repo.get_order(uow.session, order_id)
                if order is not None and order.status == "pending_payment":
                    await cancel(uow.session, gateways, order, "payment_window_ended")
        total += len(ids)
        if len(ids) < batch:
            return total
