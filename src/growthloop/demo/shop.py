"""The demo tea shop 示例茶饮 seeded on first start: the menu, about 2,000 members and three
months of seeded-random (reproducible) orders and visits, each domain's rows written through
that domain's own service or bulk import, in a few seconds."""

from __future__ import annotations

import logging
import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from growthloop.analytics import bulk as analytics_bulk
from growthloop.catalog import service as catalog
from growthloop.catalog.models import Product
from growthloop.catalog.schemas import ProductIn
from growthloop.core.ids import new_id
from growthloop.demo.campaigns import seed_campaigns
from growthloop.demo.members import seed_loyalty, seed_membership_extras, seed_partner
from growthloop.demo.menu import (
    DAYS,
    DEMO_EMAIL,
    DEMO_NAME,
    DEMO_PASSWORD,
    MEMBERS,
    MENU,
    PLATFORMS,
    SEED,
    pick_options,
    poisson,
)
from growthloop.demo.visits import history_events
from growthloop.identity import bulk as identity_bulk
from growthloop.identity import service as identity
from growthloop.identity.models import AdminUser
from growthloop.orders import bulk as orders_bulk
from growthloop.payments import bulk as payments_bulk
from growthloop.wiring import AppRuntime

log = logging.getLogger("growthloop.demo")


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
        arrivals: list[identity_bulk.Arrival] = []
        habits: dict[str, float] = {}
        for n in range(MEMBERS):
            joined = start_day + timedelta(
                days=min(DAYS - 1, int(rng.expovariate(1 / 25))), hours=rng.uniform(9, 22)
            )
            platform = rng.choices([p for p, _ in PLATFORMS], [w for _, w in PLATFORMS])[0]
            member_id = new_id(joined)
            arrivals.append(
                identity_bulk.Arrival(
                    member_id=member_id,
                    platform=platform,
                    openid=f"demo-{platform}-{n + 1:05d}",
                    unionid=f"demo-union-{n + 1:05d}" if platform == "wechat" else None,
                    joined_at=joined,
                    nickname=f"茶友{n + 1:04d}",
                )
            )
            # Orders per week: most members are occasional, a few are regulars.
            habits[member_id] = min(6.0, rng.lognormvariate(-1.2, 1.0))
        await identity_bulk.import_members(s, merchant.id, arrivals)

        history: list[orders_bulk.PastOrder] = []
        settled: list[payments_bulk.SettledPayment] = []
        visits: set[tuple[str, date]] = set()
        last_login: dict[str, datetime] = {}  # those seen after they joined
        pickup: dict[str, int] = {}
        for member in arrivals:
            member_id, joined = member.member_id, member.joined_at
            days_active = (now - joined).days
            expected = habits[member_id] * days_active / 7
            for _ in range(poisson(rng, expected)):
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
                    values, delta = pick_options(rng, product)
                    quantity = rng.choices([1, 2], [88, 12])[0]
                    lines.append(
                        orders_bulk.PastLine(
                            product.id, product.name, product.price + delta, quantity, values
                        )
                    )
                status = rng.choices(["completed", "refunded", "cancelled"], [94, 2, 4])[0]
                paid = status != "cancelled"
                day_key = at.date().isoformat()
                pickup[day_key] = pickup.get(day_key, 0) + (1 if paid else 0)
                order = orders_bulk.PastOrder(
                    order_id=order_id,
                    member_id=member_id,
                    status=status,
                    created_at=at,
                    lines=lines,
                    expires_at=at + timedelta(minutes=15),
                    paid_at=at + timedelta(minutes=1) if paid else None,
                    completed_at=at + timedelta(minutes=12) if paid else None,
                    cancelled_at=None if paid else at + timedelta(minutes=15),
                    cancel_reason=None if paid else "payment_window_ended",
                    refunded_at=at + timedelta(hours=1) if status == "refunded" else None,
                    pickup_code=f"{pickup[day_key]:04d}" if paid else None,
                    verify_code=f"{rng.randrange(10**12):012d}" if paid else None,
                )
                history.append(order)
                if paid:
                    total = order.payable()
                    settled.append(
                        payments_bulk.SettledPayment(
                            order_id=order_id,
                            member_id=member_id,
                            provider="sandbox",
                            amount=total,
                            started_at=at,
                            paid_at=at + timedelta(minutes=1),
                            provider_txn_id=f"demo-{order_id}",
                            refunded_amount=total if status == "refunded" else 0,
                        )
                    )
                visits.add((member_id, at.date()))
                if at > last_login.get(member_id, joined):
                    last_login[member_id] = at
            # Visits without an order: browsing the menu.
            for _ in range(poisson(rng, expected * 1.5)):
                at = joined + timedelta(days=rng.uniform(0, max(days_active, 0.1)))
                visits.add((member_id, at.astimezone(tz).date()))
            visits.add((member_id, joined.astimezone(tz).date()))
        await orders_bulk.import_history(s, merchant.id, history)
        await payments_bulk.import_settled(s, merchant.id, settled)
        await identity_bulk.import_visits(s, merchant.id, visits)
        enrolled = await seed_loyalty(s, merchant.id, arrivals, history, visits, now, rng)
        admin_id = (
            await s.execute(select(AdminUser.id).where(AdminUser.merchant_id == merchant.id))
        ).scalar_one()
        await seed_membership_extras(s, merchant.id, admin_id, arrivals, enrolled, now)
        await seed_partner(s, merchant.id, admin_id, arrivals, now)
        await identity_bulk.import_last_logins(s, merchant.id, last_login)
        merchant_id = merchant.id
        events, identities, links = history_events(merchant_id, arrivals, history, visits, now, rng)
        await analytics_bulk.import_identities(s, merchant_id, identities)
    # Committed first: the event store holds no row of a shop the database does not have.
    await analytics_bulk.import_events(rt.analytics, events, links)
    await seed_campaigns(rt, merchant_id)
    return merchant_id
