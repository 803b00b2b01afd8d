"""Orders as the API shows them: lines, the price breakdown, the order's own refund."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.presenting import from_row
from growthloop.orders import repository as repo
from growthloop.orders.models import ORDER_REFUND, Order, OrderItem
from growthloop.orders.schemas import BreakdownLine, OrderItemOut, OrderOut, RefundOut
from growthloop.payments import service as payments


async def order_out(
    session: AsyncSession, order: Order, lines: list[OrderItem] | None = None
) -> OrderOut:
    """`lines`: the order's lines when the caller holds them (a new order), else read."""
    known = None if lines is None else {order.id: lines}
    return (await orders_out(session, [order], known))[0]


async def orders_out(
    session: AsyncSession, orders: list[Order], lines: dict[str, list[OrderItem]] | None = None
) -> list[OrderOut]:
    items = lines if lines is not None else await repo.items_of(session, [o.id for o in orders])
    out = []
    for order in orders:
        refunds = await payments.refunds_of_order(session, order.id) if order.paid_at else []
        own = [r for r in refunds if r.reason == ORDER_REFUND]
        out.append(
            from_row(
                OrderOut,
                order,
                breakdown=_breakdown(order),
                items=[
                    OrderItemOut.model_validate(i, from_attributes=True) for i in items[order.id]
                ],
                expires_at=order.expires_at if order.status == "pending_payment" else None,
                refund=RefundOut.model_validate(own[0], from_attributes=True) if own else None,
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
