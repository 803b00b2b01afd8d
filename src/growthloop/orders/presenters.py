"""Orders as the API shows them: lines, the price breakdown, the order's own refund."""

from __future__ import annotations

from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.orders import pricing
from growthloop.orders import repository as repo
from growthloop.orders.models import ORDER_REFUND, Order, OrderItem
from growthloop.orders.schemas import BreakdownLine, OrderItemOut, OrderOut, RefundOut
from growthloop.payments import service as payments


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
                items=[_item_out(i) for i in items[order.id]],
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


def _item_out(item: OrderItem) -> OrderItemOut:
    return OrderItemOut(
        product_id=item.product_id,
        name=item.name,
        quantity=item.quantity,
        unit_price=item.unit_price,
        options=item.options,
        line_total=item.line_total,
        campaign_kind=cast(pricing.CampaignKind | None, item.campaign_kind),
        regular_unit_price=item.regular_unit_price,
        campaign_id=item.campaign_id,
        campaign_ref=item.campaign_ref,
    )


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
