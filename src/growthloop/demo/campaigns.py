"""The demo shop's campaigns: a flash sale, a group buy with a group forming, a bargain,
distribution, invites and a lottery, created through the campaigns' services."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from growthloop.campaigns.bargains import service as bargains
from growthloop.campaigns.bargains.schemas import BargainIn
from growthloop.campaigns.distribution import service as distribution
from growthloop.campaigns.distribution.schemas import DistributionIn
from growthloop.campaigns.flash_sales import service as flash_sales
from growthloop.campaigns.flash_sales.schemas import FlashSaleIn
from growthloop.campaigns.group_buys import service as group_buys
from growthloop.campaigns.group_buys.schemas import GroupBuyIn, JoinIn
from growthloop.campaigns.invites import service as invites
from growthloop.campaigns.invites.schemas import InviteRuleIn
from growthloop.campaigns.invites.schemas import RewardIn as InviteRewardIn
from growthloop.campaigns.lotteries import service as lotteries
from growthloop.campaigns.lotteries.schemas import LotteryIn, PrizeIn
from growthloop.catalog.models import Product
from growthloop.demo.menu import *  # noqa: F403
from growthloop.identity.models import AdminUser, Member
from growthloop.orders import service as orders
from growthloop.payments import service as payments
from growthloop.promotions import service as promotions
from growthloop.promotions.schemas import CouponTemplateIn
from growthloop.wiring import AppRuntime


async def seed_campaigns(rt: AppRuntime, merchant_id: str) -> None:
    """One of each fission campaign running, set up through the same services the API
    uses: a flash sale, a group buy with a group forming (its leader paid), a bargain two
    friends have cut, a prize wheel, distribution, and an invite rule."""
    now = rt.clock.now()
    window = timedelta(minutes=rt.settings.payment_window_minutes)
    async with rt.db.unit_of_work() as uow:
        s = uow.session
        admin_id = (
            await s.execute(select(AdminUser.id).where(AdminUser.merchant_id == merchant_id))
        ).scalar_one()
        by_name = {
            p.name: p.id
            for p in (
                await s.execute(select(Product).where(Product.merchant_id == merchant_id))
            ).scalars()
        }
        regulars = list(
            (
                await s.execute(
                    select(Member.id)
                    .where(Member.merchant_id == merchant_id)
                    .order_by(Member.created_at)
                    .limit(4)
                )
            ).scalars()
        )
        await flash_sales.create_sale(
            s,
            merchant_id,
            admin_id,
            FlashSaleIn(
                product_id=by_name["杨枝甘露"],
                name="杨枝甘露 9.9元秒杀",
                price=990,
                stock=100,
                per_member_limit=1,
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(days=7),
            ),
        )
        group_buy = await group_buys.create_group_buy(
            s,
            merchant_id,
            admin_id,
            GroupBuyIn(
                product_id=by_name["多肉葡萄"],
                name="多肉葡萄 3人团 12.9元",
                group_price=1290,
                group_size=3,
                duration_minutes=24 * 60,
                ends_at=now + timedelta(days=14),
            ),
        )
        _, opened = await group_buys.open_group(
            s,
            merchant_id=merchant_id,
            member_id=regulars[0],
            group_buy_id=group_buy.id,
            data=JoinIn(),
            payment_window=window,
        )
        order = await orders.access_order(s, merchant_id, opened.id)
        payment_id, _ = await orders.start_payment(s, rt.gateways, order, "sandbox")
        await payments.sandbox_succeed(s, rt.gateways, payment_id)
        bargain = await bargains.create_bargain(
            s,
            merchant_id,
            admin_id,
            BargainIn(
                product_id=by_name["芝士薯条"],
                name="芝士薯条 砍到1元",
                original_price=1300,
                floor_price=100,
                helpers_needed=5,
                duration_minutes=48 * 60,
                ends_at=now + timedelta(days=14),
            ),
        )
        instance, _ = await bargains.start(s, merchant_id, regulars[1], bargain.id)
        for helper in regulars[2:4]:
            await bargains.help_cut(s, merchant_id, helper, instance.id)
        await distribution.put_settings(
            s,
            merchant_id,
            admin_id,
            DistributionIn(level1_percent=10, level2_percent=3, settle_days=7),
        )
        reward = await promotions.create_template(
            s,
            merchant_id,
            CouponTemplateIn(
                name="邀请有礼 5元券", kind="amount_off", value=500, valid_days=30, obtain="grant"
            ),
        )
        await lotteries.create_lottery(
            s,
            merchant_id,
            admin_id,
            LotteryIn(
                name="幸运大转盘",
                rules="每天免费抽 1 次，之后每次 50 积分",
                cost_points=50,
                free_draws_per_day=1,
                max_draws_per_day=5,
                ends_at=now + timedelta(days=30),
                prizes=[
                    PrizeIn(
                        name="5元券", kind="coupon", weight=20, stock=200, template_id=reward.id
                    ),
                    PrizeIn(name="100积分", kind="points", weight=30, stock=500, points=100),
                    PrizeIn(
                        name="蛋挞一份",
                        kind="product",
                        weight=5,
                        stock=50,
                        product_id=by_name["蛋挞（2只）"],
                    ),
                    PrizeIn(name="谢谢参与", kind="none", weight=45),
                ],
            ),
        )
        gift = InviteRewardIn(coupon_template_id=reward.id)
        await invites.create_rule(
            s,
            merchant_id,
            admin_id,
            InviteRuleIn(
                name="邀请3位好友注册，双方各得5元券",
                trigger="registration",
                invites_needed=3,
                repeat=True,
                inviter_reward=gift,
                invitee_reward=gift,
            ),
        )
