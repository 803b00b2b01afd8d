"""The points mall's part of the data export and of account deletion (注销).

Erased: the shipping name, phone and address of every redemption of the member, the
courier's tracking number (with it anyone can look the recipient up at the courier), and
the voucher code (a pending voucher is a bearer code of a member who no longer exists:
nobody may use it at the counter afterwards). The per-reward counters of the member
(`mall_member_counts`) are deleted: they only cap that member's redemptions.

Kept: the redemptions themselves (reward, quantity, points spent, status, times), without
the person: each one took units from a reward's stock (`mall_rewards.redeemed` counts
them) and a physical gift is stock the merchant accounts for. `member_id` stays as the
id of the member row the identity handler emptied.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    clear_columns,
    count_member_rows,
    delete_by_member,
    iso,
    of_member,
)
from growthloop.mall.models import MemberRedemptionCount, Redemption


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(Redemption)
        .where(of_member(Redemption, merchant_id, member_id))
        .order_by(Redemption.created_at, Redemption.id)
    )
    return [
        {
            "id": r.id,
            "reward_id": r.reward_id,
            "kind": r.kind,
            "reward_name": r.reward_name,
            "quantity": r.quantity,
            "points": r.points,
            "status": r.status,
            "code": r.code,
            "coupon_ids": list(r.coupon_ids),
            "shipping": None
            if r.ship_name is None and r.ship_phone is None and r.ship_address is None
            else {"name": r.ship_name, "phone": r.ship_phone, "address": r.ship_address},
            "tracking_no": r.tracking_no,
            "created_at": iso(r.created_at),
            "fulfilled_at": iso(r.fulfilled_at),
            "cancelled_at": iso(r.cancelled_at),
        }
        for r in rows
    ]


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    r = Redemption
    return {
        "redemptions_kept_anonymous": await count_member_rows(session, r, m, who),
        "redemptions_stripped": await clear_columns(
            session,
            r,
            of_member(r, m, who),
            r.ship_name,
            r.ship_phone,
            r.ship_address,
            r.tracking_no,
            r.code,
        ),
        **await delete_by_member(session, m, who, MemberRedemptionCount),
    }


HANDLER = PrivacyHandler(
    section="mall",
    tables=("mall_redemptions", "mall_member_counts"),
    export=export,
    erase=erase,
    keeps=(
        "redemptions (reward, quantity, points, status, times) without shipping details, "
        "tracking number or voucher code: rewards' stock accounting counts them"
    ),
)
