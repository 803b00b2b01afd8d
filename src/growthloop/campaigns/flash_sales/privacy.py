"""Flash sales' part of the data export and of account deletion (注销).

Kept: every purchase of the member (sale, order, quantity, status, times), unchanged. The
purchases are the truth of a sale's units: what was sold and what is held (a held unit is
released by its order's cancellation or expiry, by order id), what the stock pool is
reloaded from, and what a running sale's per-member limit counts. `member_id` stays as the
id of the member row the identity handler empties of the person (orders keep it the same
way): it identifies nobody, and it can never buy again (its tokens are dead; the same
person logging in later is a new member). No column holds anything else about the person.

Erased: nothing; the pool's per-member holders are the kernel's (compliance.privacy).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.flash_sales.models import FlashSale, FlashSalePurchase
from growthloop.core.privacy import Erasure, PrivacyHandler, count_member_rows, member_rows


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> list[dict[str, Any]]:
    p = FlashSalePurchase
    return await member_rows(
        session,
        p,
        merchant_id,
        member_id,
        "flash_sale_id",
        FlashSale.name.label("flash_sale"),
        "order_id",
        "quantity",
        "status",
        "created_at",
        "released_at",
        outerjoin=(FlashSale, FlashSale.id == p.flash_sale_id),
        order_by=(p.created_at, p.id),
    )


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    kept = await count_member_rows(
        session, FlashSalePurchase, erasure.merchant_id, erasure.member_id
    )
    return {"flash_sale_purchases_kept": kept}


HANDLER = PrivacyHandler(
    section="flash_sales",
    tables=(FlashSalePurchase.__tablename__,),
    export=export,
    erase=erase,
    keeps=(
        "flash-sale purchases (sale, order, units, status, times): the sale's sold and held "
        "units and its per-member limits are counted from them; they refer only to the "
        "anonymous member row"
    ),
)
