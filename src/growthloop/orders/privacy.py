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

from sqlalchemy import and_, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    count_rows,
    execute_bulk,
    member_rows,
    of_member,
    rows,
)
from growthloop.orders.models import Order, OrderItem

# The re-import key derived from the member's external id (orders.importer.group_orders).
DERIVED_REF_PREFIX = "r:"


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> list[dict[str, Any]]:
    orders = await member_rows(
        session,
        Order,
        merchant_id,
        member_id,
        "id",
        "status",
        "source",
        "subtotal",
        "campaign_discount",
        "tier_discount",
        "coupon_discount",
        "discount",
        "points_used",
        "points_deduction",
        "payable",
        "coupon_id",
        "pickup_code",
        "cancel_reason",
        "created_at",
        "paid_at",
        "completed_at",
        "cancelled_at",
        "refunded_at",
        order_by=(Order.created_at, Order.id),
    )
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if orders:
        lines = await rows(
            session,
            OrderItem,
            "order_id",
            "product_id",
            "name",
            "quantity",
            "unit_price",
            "options",
            "line_total",
            "campaign_kind",
            "campaign_id",
            where=and_(
                OrderItem.merchant_id == merchant_id,
                OrderItem.order_id.in_([o["id"] for o in orders]),
            ),
            order_by=OrderItem.id,
        )
        for line in lines:
            items[line.pop("order_id")].append(line)
    return [{**o, "items": items[o["id"]]} for o in orders]


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    mine = of_member(Order, erasure.merchant_id, erasure.member_id)
    kept = await count_rows(session, Order, mine)
    cleared = await execute_bulk(
        session,
        update(Order)
        .where(mine, Order.external_ref.startswith(DERIVED_REF_PREFIX, autoescape=True))
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
