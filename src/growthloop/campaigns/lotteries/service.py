"""Lottery rules for operators (抽奖): a lottery and its prize pool, ending it, and the
draws it gave. Never commits. A member's draw is `draws.draw`; a product prize's voucher,
`vouchers`.
"""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.errors import InvalidCampaign
from growthloop.campaigns.kinds import CampaignKind
from growthloop.campaigns.lotteries import repository as repo
from growthloop.campaigns.lotteries.errors import AlreadyEnded, LotteryNotFound
from growthloop.campaigns.lotteries.models import Lottery, LotteryDraw, LotteryPrize
from growthloop.campaigns.lotteries.schemas import LotteryIn
from growthloop.core import references
from growthloop.core.pagination import PageParams
from growthloop.promotions import service as promotions

# Ending one: no draws from now on; vouchers already won stay redeemable until they expire.
LOTTERIES = CampaignKind(
    Lottery,
    "lottery",
    lambda i: LotteryNotFound(lottery_id=i),
    AlreadyEnded,
    audited=("cost_points", "free_draws_per_day"),
)


async def create_lottery(
    session: AsyncSession, merchant_id: str, admin_id: str, data: LotteryIn
) -> Lottery:
    """The lottery, then its pool, each prize checked as it is added (a refusal writes
    nothing: the transaction rolls back). What a prize gives must be this merchant's (422
    `unknown_coupon_template` or `unknown_product`, naming `prizes[i].template_id` or
    `prizes[i].product_id`); a coupon template must be granted-only (422
    `coupon_template_claimable`: a prize members could claim for free is none) and able to
    issue coupons now."""
    lottery = await LOTTERIES.create(
        session,
        merchant_id,
        admin_id,
        data,
        details={
            "prizes": [{"kind": p.kind, "weight": p.weight, "stock": p.stock} for p in data.prizes]
        },
        rules=data.rules or None,
    )
    for i, p in enumerate(data.prizes):
        if p.template_id is not None:
            template = await promotions.reward_template(
                session, merchant_id, p.template_id, field=f"prizes[{i}].template_id"
            )
            if not template.active or (
                template.valid_until is not None and template.valid_until <= lottery.created_at
            ):
                raise InvalidCampaign(
                    "The coupon template of a prize cannot issue coupons.",
                    prize=i,
                    template_id=template.id,
                )
        if p.product_id is not None:
            field = f"prizes[{i}].product_id"
            await references.check(
                session, merchant_id, table="products", field=field, ids=[p.product_id]
            )
        session.add(
            LotteryPrize(
                **p.model_dump(), merchant_id=merchant_id, lottery_id=lottery.id, seq=i + 1, given=0
            )
        )
    await session.flush()
    return lottery


get_lottery = LOTTERIES.get


async def lottery_draws(
    session: AsyncSession,
    merchant_id: str,
    lottery_id: str,
    page: PageParams,
    won: bool | None = None,
) -> tuple[list[LotteryDraw], str | None]:
    """The lottery's draws, newest first (`won`: prizes only, or 谢谢参与 only); the
    lottery must be this merchant's (404 / 403)."""
    await get_lottery(session, merchant_id, lottery_id)
    return await repo.list_draws(session, merchant_id, page, lottery_id=lottery_id, won=won)


async def member_draws(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[LotteryDraw], str | None]:
    """The member's draws in every lottery, newest first."""
    return await repo.list_draws(session, merchant_id, page, member_id=member_id)


class DrawIds(TypedDict):
    """What every lottery event names: the draw, its lottery and the member who drew."""

    merchant_id: str
    member_id: str
    draw_id: str
    lottery_id: str


def draw_ids(draw: LotteryDraw) -> DrawIds:
    return DrawIds(
        merchant_id=draw.merchant_id,
        member_id=draw.member_id,
        draw_id=draw.id,
        lottery_id=draw.lottery_id,
    )
