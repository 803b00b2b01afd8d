"""Lottery rules for operators (抽奖): a lottery and its prize pool, ending it, and the
draws it gave. Never commits. A member's draw is `draws.draw`; a product prize's voucher,
`vouchers`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import creation
from growthloop.campaigns.errors import InvalidCampaign
from growthloop.campaigns.kinds import CampaignKind
from growthloop.campaigns.lotteries import repository as repo
from growthloop.campaigns.lotteries.errors import AlreadyEnded, LotteryNotFound
from growthloop.campaigns.lotteries.models import Lottery, LotteryDraw, LotteryPrize
from growthloop.campaigns.lotteries.schemas import LotteryIn
from growthloop.core import references
from growthloop.core.audit import Action
from growthloop.core.context import now
from growthloop.core.pagination import PageParams
from growthloop.promotions import service as promotions


async def create_lottery(
    session: AsyncSession, merchant_id: str, admin_id: str, data: LotteryIn
) -> Lottery:
    """The lottery and its pool. What a prize gives must be this merchant's (422
    `unknown_coupon_template` or `unknown_product`, naming `prizes[i].template_id` or
    `prizes[i].product_id`); a coupon template must be granted-only (422
    `coupon_template_claimable`: a prize members could claim for free is none) and able to
    issue coupons now."""
    at = now(session)
    creation.ensure_ends_later(data, at)
    for i, p in enumerate(data.prizes):
        if p.template_id is not None:
            template = await promotions.reward_template(
                session, merchant_id, p.template_id, field=f"prizes[{i}].template_id"
            )
            if not template.active or (
                template.valid_until is not None and template.valid_until <= at
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
    lottery = Lottery(
        merchant_id=merchant_id,
        name=data.name,
        rules=data.rules or None,
        **creation.window_columns(data, at),
        cost_points=data.cost_points,
        free_draws_per_day=data.free_draws_per_day,
        max_draws_per_day=data.max_draws_per_day,
        max_wins_per_member=data.max_wins_per_member,
        voucher_valid_days=data.voucher_valid_days,
    )
    await creation.add_created(
        session,
        lottery,
        admin_id,
        Action.LOTTERY_CREATE,
        subject_type="lottery",
        cost_points=lottery.cost_points,
        free_draws_per_day=lottery.free_draws_per_day,
        prizes=[{"kind": p.kind, "weight": p.weight, "stock": p.stock} for p in data.prizes],
    )
    session.add_all(
        LotteryPrize(
            merchant_id=merchant_id,
            lottery_id=lottery.id,
            seq=i,
            name=p.name,
            kind=p.kind,
            weight=p.weight,
            stock=p.stock,
            given=0,
            template_id=p.template_id,
            points=p.points,
            product_id=p.product_id,
        )
        for i, p in enumerate(data.prizes, start=1)
    )
    await session.flush()
    return lottery


LOTTERIES = CampaignKind(Lottery, "lottery", lambda i: LotteryNotFound(lottery_id=i), AlreadyEnded)
get_lottery = LOTTERIES.get
list_lotteries = LOTTERIES.page
# Ending one: no draws from now on; vouchers already won stay redeemable until they expire.
end_lottery = LOTTERIES.end


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
