"""The demo shop's loyalty programme and members' standing, consents, birthdays, coupons,
points mall, and its alliance partner (a bakery)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from growthloop.alliance import service as alliance
from growthloop.alliance.schemas import PartnershipIn, PriceIn, RateIn
from growthloop.catalog.models import Product
from growthloop.compliance import bulk as compliance_bulk
from growthloop.core.ids import new_id
from growthloop.demo.menu import DEMO_PASSWORD, PARTNER_EMAIL, PARTNER_NAME, SEED
from growthloop.identity import bulk as identity_bulk
from growthloop.identity import service as identity
from growthloop.identity.models import AdminUser
from growthloop.loyalty import bulk as loyalty_bulk
from growthloop.loyalty import service as loyalty
from growthloop.loyalty.schemas import ProgramIn, TierIn
from growthloop.mall import service as mall
from growthloop.mall.schemas import RewardIn
from growthloop.orders import bulk as orders_bulk
from growthloop.promotions import service as promotions
from growthloop.promotions.schemas import CouponTemplateIn

DEMO_PROGRAM = ProgramIn(
    points_per_yuan=1,
    points_expire_days=365,
    welcome_points=100,
    tiers=[
        TierIn(name="普通会员"),
        TierIn(
            name="白银会员",
            min_spend=20_000,
            min_login_days=10,
            discount_percent=5,
            birthday_points=100,
        ),
        TierIn(
            name="黄金会员",
            min_spend=100_000,
            min_invites=3,
            discount_percent=10,
            points_multiplier_percent=150,
            free_delivery=True,
            birthday_points=300,
        ),
    ],
)


async def seed_loyalty(
    s: Any,
    merchant_id: str,
    arrivals: Sequence[identity_bulk.Arrival],
    orders: Sequence[orders_bulk.PastOrder],
    visits: set[tuple[str, date]],
    now: Any,
    rng: random.Random,
) -> set[str]:
    """Each member's standing as the programme would have built it from their history,
    through loyalty's own import (growth from completed orders, login days from visits,
    opening points with their ledger entry, the tier its rules give)."""
    await loyalty.set_program(s, merchant_id, DEMO_PROGRAM)
    for data in (
        CouponTemplateIn(
            name="新人专享 满20减3", kind="amount_off", value=300, min_spend=2000, valid_days=30
        ),
        CouponTemplateIn(
            name="会员日 85折券",
            kind="percent_off",
            value=15,
            max_discount=1000,
            valid_days=7,
            total=500,
        ),
    ):
        await promotions.create_template(s, merchant_id, data)
    first_paid: dict[str, datetime] = {}
    spent: dict[str, list[tuple[datetime, int]]] = {}
    for o in orders:
        if o.member_id is None:
            continue
        if o.paid_at is not None:
            first_paid[o.member_id] = min(first_paid.get(o.member_id, o.paid_at), o.paid_at)
        if o.status == "completed":
            spent.setdefault(o.member_id, []).append((o.completed_at or o.created_at, o.payable()))
    came: dict[str, list[date]] = {}
    for member_id, day in visits:
        came.setdefault(member_id, []).append(day)
    standings = []
    for member in arrivals:
        mid = member.member_id
        growth = sum(fen for _, fen in spent.get(mid, []))
        standings.append(
            loyalty_bulk.Standing(
                member_id=mid,
                points=growth // 100 + (DEMO_PROGRAM.welcome_points if mid in first_paid else 0),
                spend=spent.get(mid, []),
                login_days=came.get(mid, []),
                invites=min(5, int(rng.expovariate(1.2))) if growth else 0,
                enrolled_at=first_paid.get(mid),
            )
        )
    await loyalty_bulk.import_standings(s, merchant_id, standings, now)
    return set(first_paid)


async def seed_membership_extras(
    s: Any,
    merchant_id: str,
    admin_id: str,
    arrivals: Sequence[identity_bulk.Arrival],
    enrolled: set[str],
    now: Any,
) -> None:
    """What the programme shows around the members: their consent to membership (every
    enrolled member gave it), birthdays for about 40% of them, coupons issued automatically,
    and a points mall with one reward of each kind."""
    rng = random.Random(SEED + 1)  # its own stream: the history above stays as it was
    await compliance_bulk.import_decisions(
        s,
        merchant_id,
        [
            compliance_bulk.Decision(
                member_id=m.member_id,
                purpose="membership",
                granted=True,
                source="first_payment",
                platform=m.platform,
            )
            for m in arrivals
            if m.member_id in enrolled
        ],
    )
    birthdays = {}
    for member in arrivals:
        if rng.random() < 0.4:
            born = date(rng.randint(1970, 2006), rng.randint(1, 12), rng.randint(1, 28))
            birthdays[member.member_id] = born
    await identity_bulk.import_birthdays(s, merchant_id, birthdays)
    templates = {}
    for key, data in (
        (
            "birthday",
            CouponTemplateIn(
                name="生日礼 满30减10",
                kind="amount_off",
                value=1000,
                min_spend=3000,
                valid_days=30,
                auto_issue="birthday",
                auto_issue_tiers=["白银会员", "黄金会员"],
                obtain="grant",
            ),
        ),
        (
            "upgrade",
            CouponTemplateIn(
                name="升级礼 免单券（20元内）",
                kind="amount_off",
                value=2000,
                valid_days=30,
                auto_issue="tier_upgrade",
                auto_issue_tiers=["黄金会员"],
                obtain="grant",
            ),
        ),
        (
            "mall",
            CouponTemplateIn(
                name="积分兑换 5元券", kind="amount_off", value=500, valid_days=30, obtain="grant"
            ),
        ),
    ):
        templates[key] = await promotions.create_template(s, merchant_id, data)
    signature = (
        await s.execute(
            select(Product.id).where(
                Product.merchant_id == merchant_id, Product.name == "招牌珍珠奶茶"
            )
        )
    ).scalar_one()
    for reward in (
        RewardIn(
            kind="coupon",
            name="5元无门槛券",
            template_id=templates["mall"].id,
            points_cost=500,
            per_member_limit=2,
            sort=0,
        ),
        RewardIn(
            kind="product",
            name="招牌珍珠奶茶一杯",
            product_id=signature,
            points_cost=1500,
            stock=200,
            per_member_limit=1,
            sort=1,
        ),
        RewardIn(
            kind="physical",
            name="品牌帆布袋",
            description="包邮到家",
            points_cost=3000,
            stock=50,
            per_member_limit=1,
            sort=2,
        ),
    ):
        await mall.create_reward(s, merchant_id, admin_id, reward)


async def seed_partner(
    s: Any, merchant_id: str, admin_id: str, arrivals: Sequence[identity_bulk.Arrival], now: Any
) -> None:
    """异业联盟: a bakery nearby, with its own programme and 300 members who are also the
    shop's (same WeChat unionid), in an active partnership: 100 tea points = 50 bakery
    points, the tea shop pays 0.50 yuan per 100 points it sends."""
    bakery, _ = await identity.create_merchant(s, PARTNER_NAME, PARTNER_EMAIL, DEMO_PASSWORD, now)
    await loyalty.set_program(
        s, bakery.id, ProgramIn(points_per_yuan=1, tiers=[TierIn(name="烘焙会员")])
    )
    shared = [(m, n) for n, m in enumerate(arrivals) if m.platform == "wechat" and n % 4 == 0][:300]
    await identity_bulk.import_members(
        s,
        bakery.id,
        [
            identity_bulk.Arrival(
                member_id=new_id(member.joined_at),
                platform="wechat",
                openid=f"demo-bakery-{n + 1:05d}",
                unionid=member.unionid,
                joined_at=member.joined_at,
                nickname=member.nickname,
            )
            for member, n in shared
        ],
    )
    bakery_admin = (
        await s.execute(select(AdminUser.id).where(AdminUser.merchant_id == bakery.id))
    ).scalar_one()
    partnership = await alliance.propose(
        s,
        merchant_id,
        admin_id,
        PartnershipIn(
            partner_merchant_id=bakery.id,
            rate=RateIn(points=100, partner_points=50),
            daily_cap=100_000,
            member_daily_cap=2_000,
            settlement_price=PriceIn(fen=50, points=100),
        ),
    )
    await alliance.accept(s, bakery.id, bakery_admin, partnership.id)
