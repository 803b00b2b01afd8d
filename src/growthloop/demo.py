"""The demo tea shop 示例茶饮: a menu with options, about 2,000 members, and three months of
seeded-random (reproducible) orders and visits, bulk-inserted in a few seconds."""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from growthloop.alliance import service as alliance
from growthloop.alliance.schemas import PartnershipIn, PriceIn, RateIn
from growthloop.analytics import bulk as analytics_bulk
from growthloop.analytics.rows import EventRow, Override
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
from growthloop.catalog import service as catalog
from growthloop.catalog.models import Product
from growthloop.catalog.schemas import OptionGroupIn, ProductIn
from growthloop.compliance import bulk as compliance_bulk
from growthloop.core.ids import new_id
from growthloop.identity import bulk as identity_bulk
from growthloop.identity import service as identity
from growthloop.identity.events import MemberLogin, MemberRegistered
from growthloop.identity.models import AdminUser, Member
from growthloop.loyalty import bulk as loyalty_bulk
from growthloop.loyalty import service as loyalty
from growthloop.loyalty.schemas import ProgramIn, TierIn
from growthloop.mall import service as mall
from growthloop.mall.schemas import RewardIn
from growthloop.orders import bulk as orders_bulk
from growthloop.orders import service as orders
from growthloop.orders.events import (
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderPaid,
    OrderRefunded,
)
from growthloop.payments import bulk as payments_bulk
from growthloop.payments import service as payments
from growthloop.promotions import service as promotions
from growthloop.promotions.schemas import CouponTemplateIn
from growthloop.wiring import AppRuntime

DEMO_NAME = "示例茶饮"
DEMO_EMAIL = "demo@growthloop.local"
DEMO_PASSWORD = "growthloop-demo"  # noqa: S105 - the demo's published credentials
PARTNER_NAME = "示例烘焙"  # the alliance partner: a bakery whose members overlap the shop's
PARTNER_EMAIL = "bakery@growthloop.local"
MEMBERS = 2000
DAYS = 90
SEED = 20261122
log = logging.getLogger("growthloop.demo")

SUGAR = OptionGroupIn(name="糖度", values=["七分糖", "无糖", "三分糖", "五分糖", "全糖"])
ICE = OptionGroupIn(name="温度", values=["少冰", "正常冰", "去冰", "温热"])
HOT_ONLY = OptionGroupIn(name="温度", values=["热", "温"])
SIZE = OptionGroupIn(
    name="杯型", values=["中杯", "大杯", "超大杯"], price_deltas={"大杯": 300, "超大杯": 500}
)
TOPPING = OptionGroupIn(
    name="加料",
    values=["不加料", "珍珠", "椰果", "芋圆"],
    price_deltas={"珍珠": 200, "椰果": 200, "芋圆": 300},
)
DRINK = [SUGAR, ICE, SIZE]

MENU: list[tuple[str, str, int, list[OptionGroupIn], float]] = [
    # name, category, price (fen), options, popularity weight
    ("招牌珍珠奶茶", "奶茶", 1500, [*DRINK, TOPPING], 10),
    ("芋泥波波奶茶", "奶茶", 1800, DRINK, 7),
    ("黑糖鹿丸鲜奶", "奶茶", 1900, [ICE, SIZE], 6),
    ("多肉葡萄", "果茶", 1900, DRINK, 8),
    ("满杯红柚", "果茶", 1700, DRINK, 6),
    ("杨枝甘露", "果茶", 1900, [ICE, SIZE], 6),
    ("芝芝莓莓", "果茶", 2100, DRINK, 5),
    ("柠檬绿茶", "纯茶", 1000, DRINK, 5),
    ("茉莉清茶", "纯茶", 900, [SUGAR, ICE], 3),
    ("四季春轻乳茶", "纯茶", 1400, DRINK, 4),
    ("生椰拿铁", "咖啡", 1800, [SUGAR, ICE], 5),
    ("美式咖啡", "咖啡", 1200, [HOT_ONLY], 3),
    ("蛋挞（2只）", "小食", 1000, [], 3),
    ("鸡米花", "小食", 1200, [], 2),
    ("芝士薯条", "小食", 1300, [], 2),
]

PLATFORMS = [("wechat", 0.62), ("alipay", 0.14), ("douyin", 0.14), ("app", 0.10)]


def _pick_options(rng: random.Random, product: Product) -> tuple[dict[str, str], int]:
    values, delta = {}, 0
    for group in product.options:
        weights = [4 if i == 0 else 1 for i in range(len(group["values"]))]
        value = rng.choices(group["values"], weights)[0]
        values[group["name"]] = value["name"]
        delta += value["price_delta"]
    return values, delta


async def _existing(rt: AppRuntime) -> str | None:
    async with rt.db.unit_of_work(write=False) as uow:
        row = await uow.session.execute(
            select(AdminUser.merchant_id).where(AdminUser.email == DEMO_EMAIL)
        )
        return row.scalar_one_or_none()


async def seed_if_empty(rt: AppRuntime) -> str:
    """Seed the demo shop unless the data dir already has it; returns its merchant id."""
    existing = await _existing(rt)
    if existing:
        return existing
    log.info("seeding the demo shop %s: first start, about 15 seconds", DEMO_NAME)
    rng = random.Random(SEED)
    now = rt.clock.now()
    tz = ZoneInfo("Asia/Shanghai")
    async with rt.db.unit_of_work() as uow:
        s = uow.session
        merchant, _ = await identity.create_merchant(s, DEMO_NAME, DEMO_EMAIL, DEMO_PASSWORD, now)
        products: list[tuple[Product, float]] = []
        for sort, (name, category, price, options, weight) in enumerate(MENU):
            product = await catalog.create_product(
                s,
                merchant.id,
                ProductIn(
                    name=name,
                    price=price,
                    stock=9999,
                    category=category,
                    options=options,
                    sort=sort,
                ),
            )
            products.append((product, weight))

        # Members join over the period, more at the start (the shop's existing regulars).
        start_day = (now.astimezone(tz) - timedelta(days=DAYS)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        members: list[dict[str, Any]] = []
        accounts: list[dict[str, Any]] = []
        habits: dict[str, float] = {}
        for n in range(MEMBERS):
            joined = start_day + timedelta(
                days=min(DAYS - 1, int(rng.expovariate(1 / 25))), hours=rng.uniform(9, 22)
            )
            platform = rng.choices([p for p, _ in PLATFORMS], [w for _, w in PLATFORMS])[0]
            member_id = new_id(joined)
            members.append(
                {
                    "id": member_id,
                    "merchant_id": merchant.id,
                    "status": "active",
                    "nickname": f"茶友{n + 1:04d}",
                    "signup_platform": platform,
                    "created_at": joined,
                    "last_login_at": joined,
                }
            )
            accounts.append(
                {
                    "id": new_id(joined),
                    "merchant_id": merchant.id,
                    "member_id": member_id,
                    "platform": platform,
                    "app_id": "",
                    "openid": f"demo-{platform}-{n + 1:05d}",
                    "unionid": f"demo-union-{n + 1:05d}" if platform == "wechat" else None,
                    "created_at": joined,
                }
            )
            # Orders per week: most members are occasional, a few are regulars.
            habits[member_id] = min(6.0, rng.lognormvariate(-1.2, 1.0))
        await identity_bulk.import_members(
            s,
            merchant.id,
            [
                identity_bulk.Arrival(
                    member_id=m["id"],
                    platform=a["platform"],
                    openid=a["openid"],
                    unionid=a["unionid"],
                    joined_at=m["created_at"],
                    nickname=m["nickname"],
                )
                for m, a in zip(members, accounts, strict=True)
            ],
        )

        orders, history, settled, visits = [], [], [], set()
        pickup: dict[str, int] = {}
        for member in members:
            joined = member["created_at"]
            days_active = (now - joined).days
            expected = habits[member["id"]] * days_active / 7
            for _ in range(_poisson(rng, expected)):
                day = joined + timedelta(days=rng.uniform(0, max(days_active, 0.1)))
                local = day.astimezone(tz)
                hour = rng.choices(range(10, 22), [2, 4, 6, 5, 4, 5, 6, 6, 5, 4, 3, 2])[0]
                at = local.replace(
                    hour=hour, minute=rng.randrange(60), second=rng.randrange(60)
                ).astimezone(tz)
                if at >= now:
                    continue
                order_id = new_id(at)
                lines = []
                for _ in range(rng.choices([1, 2, 3], [70, 24, 6])[0]):
                    product = rng.choices([p for p, _ in products], [w for _, w in products])[0]
                    values, delta = _pick_options(rng, product)
                    quantity = rng.choices([1, 2], [88, 12])[0]
                    unit = product.price + delta
                    lines.append((product, values, unit, quantity))
                total = sum(unit * q for _, _, unit, q in lines)
                status = rng.choices(["completed", "refunded", "cancelled"], [94, 2, 4])[0]
                paid = status != "cancelled"
                day_key = at.date().isoformat()
                pickup[day_key] = pickup.get(day_key, 0) + (1 if paid else 0)
                orders.append(
                    {
                        "id": order_id,
                        "merchant_id": merchant.id,
                        "member_id": member["id"],
                        "status": status,
                        "source": "app",
                        "subtotal": total,
                        "discount": 0,
                        "points_deduction": 0,
                        "payable": total,
                        "points_used": 0,
                        "expires_at": at + timedelta(minutes=15),
                        "pickup_code": f"{pickup[day_key]:04d}" if paid else None,
                        "verify_code": f"{rng.randrange(10**12):012d}" if paid else None,
                        "created_at": at,
                        "paid_at": at + timedelta(minutes=1) if paid else None,
                        "completed_at": at + timedelta(minutes=12) if paid else None,
                        "cancelled_at": at + timedelta(minutes=15) if not paid else None,
                        "cancel_reason": "payment_window_ended" if not paid else None,
                        "refunded_at": at + timedelta(hours=1) if status == "refunded" else None,
                    }
                )
                past = dict(orders[-1])
                history.append(
                    orders_bulk.PastOrder(
                        order_id=order_id,
                        member_id=member["id"],
                        status=status,
                        created_at=at,
                        lines=[
                            orders_bulk.PastLine(product.id, product.name, unit, quantity, values)
                            for product, values, unit, quantity in lines
                        ],
                        expires_at=past["expires_at"],
                        paid_at=past["paid_at"],
                        completed_at=past["completed_at"],
                        cancelled_at=past["cancelled_at"],
                        cancel_reason=past["cancel_reason"],
                        refunded_at=past["refunded_at"],
                        pickup_code=past["pickup_code"],
                        verify_code=past["verify_code"],
                    )
                )
                if paid:
                    settled.append(
                        payments_bulk.SettledPayment(
                            order_id=order_id,
                            member_id=member["id"],
                            provider="sandbox",
                            amount=total,
                            started_at=at,
                            paid_at=at + timedelta(minutes=1),
                            provider_txn_id=f"demo-{order_id}",
                            refunded_amount=total if status == "refunded" else 0,
                        )
                    )
                visits.add((member["id"], at.date()))
                member["last_login_at"] = max(member["last_login_at"], at)
            # Visits without an order: browsing the menu.
            for _ in range(_poisson(rng, expected * 1.5)):
                at = joined + timedelta(days=rng.uniform(0, max(days_active, 0.1)))
                visits.add((member["id"], at.astimezone(tz).date()))
            visits.add((member["id"], joined.astimezone(tz).date()))
        await orders_bulk.import_history(s, merchant.id, history)
        await payments_bulk.import_settled(s, merchant.id, settled)
        await identity_bulk.import_visits(s, merchant.id, visits)
        enrolled = await _seed_loyalty(s, merchant.id, members, orders, visits, now, rng)
        admin_id = (
            await s.execute(select(AdminUser.id).where(AdminUser.merchant_id == merchant.id))
        ).scalar_one()
        await _seed_membership_extras(s, merchant.id, admin_id, members, enrolled, now)
        await _seed_partner(s, merchant.id, admin_id, members, now)
        await identity_bulk.import_last_logins(
            s,
            merchant.id,
            {m["id"]: m["last_login_at"] for m in members if m["last_login_at"] != m["created_at"]},
        )
        merchant_id = merchant.id
        events, identities, links = _demo_events(
            merchant_id, members, accounts, orders, visits, now, rng
        )
        await analytics_bulk.import_identities(s, merchant_id, identities)
    # Committed first: the event store holds no row of a shop the database does not have.
    await analytics_bulk.import_events(rt.analytics, events, links)
    await _seed_campaigns(rt, merchant_id)
    return merchant_id


# Where new members first came from (the touch attribution credits).
CHANNELS = [
    ("wechat_search", 0.30),
    ("table_qr", 0.25),
    ("moments_ad", 0.15),
    ("friend_share", 0.20),
    ("douyin_video", 0.10),
]
VISIT_CHANNELS = [None, "table_qr", "wechat_search", "moments_ad", "friend_share"]
MENU_PAGE = "pages/menu/index"
PRODUCT_PAGE = "pages/product/detail"


def _demo_events(
    merchant_id: str,
    members: list[dict[str, Any]],
    accounts: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    visits: set[tuple[str, Any]],
    now: datetime,
    rng: random.Random,
) -> tuple[list[EventRow], list[analytics_bulk.KnownId], list[Override]]:
    """The analytics events of the seeded history, so the dashboard has three months behind
    it: sign-ups (with the channel that brought each member), logins and menu views on every
    visit, and each order's life; plus anonymous visitors, some of whom signed up later and
    were linked to their member at login, as the SDK's identify call does."""
    tz = ZoneInfo("Asia/Shanghai")
    platform_of = {m["id"]: m["signup_platform"] for m in members}
    events: list[EventRow] = []

    def add(
        name: str,
        distinct_id: str,
        member_id: str | None,
        at: datetime,
        platform: str,
        *,
        page: str | None = None,
        channel: str | None = None,
        amount: int = 0,
        props: str = "{}",
    ) -> None:
        if at >= now:
            return
        events.append(
            EventRow(
                merchant_id,
                new_id(at),
                name,
                distinct_id,
                member_id,
                at,
                at,
                platform,
                page,
                None,
                channel,
                amount,
                props,
            )
        )

    identities: list[analytics_bulk.KnownId] = []
    links: list[Override] = []
    for m in members:
        identities.append(
            analytics_bulk.KnownId(
                m["id"], m["id"], "member", m["created_at"], platform_hint=m["signup_platform"]
            )
        )
        channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
        joined, platform = m["created_at"], m["signup_platform"]
        if rng.random() < 0.3:  # browsed anonymously first, identified at sign-up
            device = f"demo-device-{m['id'][-10:]}"
            for k in range(rng.randint(1, 4)):
                add(
                    "page_view",
                    device,
                    None,
                    joined - timedelta(minutes=5 + 7 * k),
                    platform,
                    page=MENU_PAGE,
                    channel=channel,
                )
            identities.append(analytics_bulk.KnownId(device, m["id"], "identify", joined))
            links.append(Override(merchant_id, device, m["id"], m["id"], joined))
        add(MemberRegistered.name, m["id"], m["id"], joined, platform, channel=channel)
        add(MemberLogin.name, m["id"], m["id"], joined, platform, channel=channel)
    seen = {(merchant_id, i.distinct_id) for i in identities}
    for a in accounts:
        for external in (a["openid"], a["unionid"]):
            if external and (merchant_id, external) not in seen:
                seen.add((merchant_id, external))
                identities.append(
                    analytics_bulk.KnownId(external, a["member_id"], "member", a["created_at"])
                )
    for member_id, day in sorted(visits):
        platform = platform_of[member_id]
        local = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        at = (local + timedelta(hours=rng.uniform(9.5, 21.5))).astimezone(UTC)
        # Half the visits come through something trackable: the table's QR code, a search.
        came_by = rng.choices(VISIT_CHANNELS, [50, 25, 12, 8, 5])[0]
        add(MemberLogin.name, member_id, member_id, at, platform, channel=came_by)
        for k in range(rng.choices([1, 2, 3], [5, 3, 2])[0]):
            add(
                "page_view",
                member_id,
                member_id,
                at + timedelta(minutes=1 + 2 * k),
                platform,
                page=MENU_PAGE,
            )
    for o in orders:
        member_id, platform = o["member_id"], platform_of[o["member_id"]]
        props = f'{{"order_id":"{o["id"]}"}}'
        add(
            "page_view",
            member_id,
            member_id,
            o["created_at"] - timedelta(minutes=2),
            platform,
            page=PRODUCT_PAGE,
        )
        add(
            OrderCreated.name,
            member_id,
            member_id,
            o["created_at"],
            platform,
            amount=o["payable"],
            props=props,
        )
        if o["paid_at"]:
            add(
                OrderPaid.name,
                member_id,
                member_id,
                o["paid_at"],
                platform,
                amount=o["payable"],
                props=props,
            )
            add(
                OrderCompleted.name,
                member_id,
                member_id,
                o["completed_at"],
                platform,
                amount=o["payable"],
                props=props,
            )
        else:
            add(
                OrderCancelled.name,
                member_id,
                member_id,
                o["cancelled_at"],
                platform,
                amount=o["payable"],
                props=props,
            )
        if o["refunded_at"]:
            add(
                OrderRefunded.name,
                member_id,
                member_id,
                o["refunded_at"],
                platform,
                amount=o["payable"],
                props=props,
            )
    # Passers-by who looked at the menu and never signed up.
    start = now - timedelta(days=DAYS)
    for n in range(MEMBERS // 2):
        platform = rng.choices([p for p, _ in PLATFORMS], [w for _, w in PLATFORMS])[0]
        at = start + timedelta(days=rng.uniform(0, DAYS), hours=rng.uniform(0, 1))
        for k in range(rng.randint(1, 3)):
            add(
                "page_view",
                f"demo-visitor-{n:05d}",
                None,
                at + timedelta(minutes=k),
                platform,
                page=MENU_PAGE,
                channel=rng.choice([None, "moments_ad", "douyin_video"]),
            )
    return events, identities, links


async def _seed_campaigns(rt: AppRuntime, merchant_id: str) -> None:
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


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; lam is small here."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, lam**0.5)))
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# The programme the membership article describes: 1 yuan = 1 point; 白银 at 200 yuan spent or
# 10 login days; 黄金 at 1,000 yuan spent or 3 invited friends.
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


async def _seed_loyalty(
    s: Any,
    merchant_id: str,
    members: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    visits: set[tuple[str, Any]],
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
    spend: dict[str, int] = {}
    first_paid: dict[str, Any] = {}
    for order in orders:
        if order["status"] == "completed":
            spend[order["member_id"]] = spend.get(order["member_id"], 0) + order["payable"]
        if order["paid_at"] is not None:
            first_paid[order["member_id"]] = min(
                first_paid.get(order["member_id"], order["paid_at"]), order["paid_at"]
            )
    came: dict[str, list[Any]] = {}
    for member_id, day in visits:
        came.setdefault(member_id, []).append(day)
    spent: dict[str, list[tuple[Any, int]]] = {}
    for o in orders:
        if o["status"] == "completed":
            at = o["completed_at"] or o["created_at"]
            spent.setdefault(o["member_id"], []).append((at, o["payable"]))
    standings = []
    for member in members:
        mid = member["id"]
        growth = spend.get(mid, 0)
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


async def _seed_membership_extras(
    s: Any,
    merchant_id: str,
    admin_id: str,
    members: list[dict[str, Any]],
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
                member_id=m["id"],
                purpose="membership",
                granted=True,
                source="first_payment",
                platform=m["signup_platform"],
            )
            for m in members
            if m["id"] in enrolled
        ],
    )
    birthdays = {}
    for member in members:
        if rng.random() < 0.4:
            born = date(rng.randint(1970, 2006), rng.randint(1, 12), rng.randint(1, 28))
            birthdays[member["id"]] = born
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


async def _seed_partner(
    s: Any, merchant_id: str, admin_id: str, members: list[dict[str, Any]], now: Any
) -> None:
    """异业联盟: a bakery nearby, with its own programme and 300 members who are also the
    shop's (same WeChat unionid), in an active partnership: 100 tea points = 50 bakery
    points, the tea shop pays 0.50 yuan per 100 points it sends."""
    bakery, _ = await identity.create_merchant(s, PARTNER_NAME, PARTNER_EMAIL, DEMO_PASSWORD, now)
    await loyalty.set_program(
        s, bakery.id, ProgramIn(points_per_yuan=1, tiers=[TierIn(name="烘焙会员")])
    )
    shared = [
        (m, n) for n, m in enumerate(members) if m["signup_platform"] == "wechat" and n % 4 == 0
    ][:300]
    await identity_bulk.import_members(
        s,
        bakery.id,
        [
            identity_bulk.Arrival(
                member_id=new_id(member["created_at"]),
                platform="wechat",
                openid=f"demo-bakery-{n + 1:05d}",
                unionid=f"demo-union-{n + 1:05d}",
                joined_at=member["created_at"],
                nickname=member["nickname"],
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
