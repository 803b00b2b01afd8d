"""Orders' part of the data export and of account deletion (注销).

Kept: every order and order line, with amounts, statuses, items, options and times: they
are accounting records (会计档案) the merchant must keep (会计档案管理办法: 30 years for
accounting vouchers and books). `member_id` stays as the id of the member row that the
identity handler has emptied of the person, so the orders identify nobody.

Erased: no order column holds free text or contact data (no remark, address, name or
phone: options are values chosen from the catalog's option groups, cancel reasons are
codes). The one derived identifier is the re-import key of an imported order that came
without an order number ("r:" + a hash over the member's external id and the row): it is
cleared. Order numbers from the source system ("x:...") are the merchant's own
accounting references and stay.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.privacy import Erasure, PrivacyHandler, count_rows, execute_bulk, iso
from growthloop.orders.models import Order, OrderItem

# The re-import key derived from the member's external id (orders.importer.group_orders).
DERIVED_REF_PREFIX = "r:"


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> list[dict[str, Any]]:
    orders = list(
        await session.scalars(
            select(Order)
            .where(Order.merchant_id == merchant_id, Order.member_id == member_id)
            .order_by(Order.created_at, Order.id)
        )
    )
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if orders:
        lines = await session.scalars(
            select(OrderItem)
            .where(
                OrderItem.merchant_id == merchant_id,
                OrderItem.order_id.in_([o.id for o in orders]),
            )
            .order_by(OrderItem.id)
        )
        for i in lines:
            items[i.order_id].append(
                {
                    "product_id": i.product_id,
                    "name": i.name,
                    "quantity": i.quantity,
                    "unit_price": i.unit_price,
                    "options": dict(i.options),
                    "line_total": i.line_total,
                    "campaign_kind": i.campaign_kind,
                    "campaign_id": i.campaign_id,
                }
            )
    return [
        {
            "id": o.id,
            "status": o.status,
            "source": o.source,
            "subtotal": o.subtotal,
            "campaign_discount": o.campaign_discount,
            "tier_discount": o.tier_discount,
            "coupon_discount": o.coupon_discount,
            "discount": o.discount,
            "points_used": o.points_used,
            "points_deduction": o.points_deduction,
            "payable": o.payable,
            "coupon_id": o.coupon_id,
            "pickup_code": o.pickup_code,
            "cancel_reason": o.cancel_reason,
            "created_at": iso(o.created_at),
            "paid_at": iso(o.paid_at),
            "completed_at": iso(o.completed_at),
            "cancelled_at": iso(o.cancelled_at),
            "refunded_at": iso(o.refunded_at),
            "items": items[o.id],
        }
        for o in orders
    ]


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    mine = Order.merchant_id == erasure.merchant_id, Order.member_id == erasure.member_id
    kept = await count_rows(session, Order, *mine)
    cleared = await execute_bulk(
        session,
        update(Order)
        .where(*mine, Order.external_ref.startswith(DERIVED_REF_PREFIX, autoescape=True))
        .values(external_ref=None),
    )
    return {"orders_kept_anonymous": kept, "import_keys_cleared": cleared}


HANDLER = PrivacyHandler(
    section="orders",
    tables=("orders", "order_items"),
    export=export,
    erase=erase,
    keeps=(
        "orders and order lines (amounts, status, items, times) as accounting records "
        "(会计档案, kept as the accounting rules require); they hold no personal field and "
        "refer only to the anonymous member row"
    ),
)
