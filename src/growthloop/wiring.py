"""Builds the runtime and wires the domains together: adapters, event subscribers, sweeps.

Shared by the HTTP app and the CLI worker so both run the same subscribers and sweeps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

from growthloop.alliance import privacy as alliance_privacy
from growthloop.analytics import privacy as analytics_privacy
from growthloop.analytics import service as analytics
from growthloop.analytics import tasks as analytics_tasks
from growthloop.analytics.backends import open_event_store
from growthloop.analytics.pipeline import MemoryRecentIds, Pipeline, RedisRecentIds
from growthloop.analytics.rows import EVENT_DATA_MAP
from growthloop.campaigns.bargains import privacy as bargains_privacy
from growthloop.campaigns.bargains import service as bargains
from growthloop.campaigns.bargains.events import BargainHelped, BargainPurchased, BargainStarted
from growthloop.campaigns.distribution import privacy as distribution_privacy
from growthloop.campaigns.distribution import service as distribution
from growthloop.campaigns.distribution import tasks as distribution_tasks
from growthloop.campaigns.distribution.events import (
    CommissionCancelled,
    CommissionFrozen,
    CommissionSettled,
    DistributionBound,
)
from growthloop.campaigns.distribution.models import DistributionSettings
from growthloop.campaigns.flash_sales import pool as flash_sales_pool
from growthloop.campaigns.flash_sales import privacy as flash_sales_privacy
from growthloop.campaigns.flash_sales import service as flash_sales
from growthloop.campaigns.flash_sales import tasks as flash_sales_tasks
from growthloop.campaigns.flash_sales.events import FlashSalePurchased
from growthloop.campaigns.group_buys import privacy as group_buys_privacy
from growthloop.campaigns.group_buys import seats as group_seats
from growthloop.campaigns.group_buys import tasks as group_buys_tasks
from growthloop.campaigns.group_buys.events import (
    GroupFailed,
    GroupJoined,
    GroupOpened,
    GroupSucceeded,
)
from growthloop.campaigns.invites import privacy as invites_privacy
from growthloop.campaigns.invites import service as invites
from growthloop.campaigns.invites.events import InviteQualified, InviteRewarded
from growthloop.campaigns.invites.models import InviteRule
from growthloop.campaigns.lotteries import privacy as lotteries_privacy
from growthloop.campaigns.lotteries.events import LotteryDrew
from growthloop.campaigns.shares import privacy as shares_privacy
from growthloop.campaigns.shares import service as shares
from growthloop.catalog.menu_cache import MenuCache
from growthloop.compliance import deletion, retention
from growthloop.compliance import privacy as compliance_privacy
from growthloop.compliance.registry import PrivacyRegistry
from growthloop.core import crypto, idempotency
from growthloop.core.auth import TokenCodec
from growthloop.core.clock import Clock
from growthloop.core.config import Settings
from growthloop.core.context import Context
from growthloop.core.db import Database
from growthloop.core.events import EventBus
from growthloop.core.jobs import Sweeper
from growthloop.core.kv import make_counters, redis_client
from growthloop.core.runtime import Runtime
from growthloop.core.settings_cache import SettingsCache
from growthloop.core.stock import PoolState, StockBackend, choose_backend, make_stock_backend
from growthloop.engagement import privacy as engagement_privacy
from growthloop.identity import privacy as identity_privacy
from growthloop.identity import service as identity
from growthloop.identity import tasks as identity_tasks
from growthloop.identity.events import MemberBirthday, MemberInvited, MemberLogin, MemberRegistered
from growthloop.identity.models import Merchant
from growthloop.identity.platforms import DevAdapter, Platforms
from growthloop.identity.service import IdentityDirectory, IdentityMembers, IdentityPrincipals
from growthloop.loyalty import handlers as loyalty
from growthloop.loyalty import privacy as loyalty_privacy
from growthloop.loyalty import tasks as loyalty_tasks
from growthloop.loyalty.events import MemberBirthdayGift, MemberEnrolled, MemberTierChanged
from growthloop.loyalty.models import Program as LoyaltyProgram
from growthloop.mall import privacy as mall_privacy
from growthloop.mall.events import MallRedeemed
from growthloop.orders import privacy as orders_privacy
from growthloop.orders import service as orders
from growthloop.orders import tasks as orders_tasks
from growthloop.orders.events import (
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderImported,
    OrderPaid,
    OrderRefunded,
)
from growthloop.payments import privacy as payments_privacy
from growthloop.payments import tasks as payments_tasks
from growthloop.payments.backends.sandbox import SandboxGateway
from growthloop.payments.events import PaymentSucceeded, RefundSucceeded
from growthloop.payments.gateway import Gateways
from growthloop.promotions import handlers as promotions
from growthloop.promotions import privacy as promotions_privacy
from growthloop.promotions.events import CouponClaimed


@dataclass(kw_only=True)
class AppRuntime(Runtime):
    """The runtime with the parts the domains own, typed: what the app, the CLI and the
    tests reach for (domain code asks the kernel's `Runtime.part()` or its session)."""

    analytics: Pipeline
    privacy: PrivacyRegistry
    gateways: Gateways
    platforms: Platforms
    menu_cache: MenuCache


def build_runtime(settings: Settings, clock: Clock | None = None) -> AppRuntime:
    clock = clock or Clock()
    crypto.configure_keys(crypto.key_ring(settings.pii_keys, settings.secret_key))
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
    backend = choose_backend(
        settings.stock_backend, redis_url=settings.redis_url, is_sqlite=settings.is_sqlite
    )
    analytics = Pipeline(
        open_event_store(settings.events_url, settings.data_dir),
        RedisRecentIds(redis_client(settings.redis_url), prefix=f"{settings.redis_prefix}evid:")
        if settings.redis_url
        else MemoryRecentIds(),
    )
    gateways, platforms = Gateways(), Platforms()
    if settings.dev_login:
        platforms["dev"] = DevAdapter()
    if settings.sandbox:
        gateways["sandbox"] = SandboxGateway(settings.secret_key)
    privacy = _privacy(settings, db, analytics)
    counters = make_counters(settings.redis_url, settings.redis_prefix)
    tokens = TokenCodec(settings.secret_key)
    # Versions every process sees: Redis, or the one process of the embedded set-up.
    menu_cache = MenuCache(
        counters, tokens, clock, enabled=bool(settings.redis_url) or settings.is_sqlite
    )
    settings_cache = SettingsCache(counters, enabled=bool(settings.redis_url) or settings.is_sqlite)
    settings_cache.watch(Merchant, lambda m: m.id)
    settings_cache.watch(DistributionSettings, lambda s: s.merchant_id)
    settings_cache.watch(InviteRule, lambda r: r.merchant_id)
    settings_cache.watch(LoyaltyProgram, lambda p: p.merchant_id)
    rt = AppRuntime(
        settings=settings,
        db=db,
        clock=clock,
        bus=EventBus(),
        counters=counters,
        tokens=tokens,
        sweeper=Sweeper(interval_seconds=settings.sweep_interval_seconds),
        stock=make_stock_backend(
            backend,
            partial(load_pool, db),
            redis_url=settings.redis_url,
            prefix=settings.redis_prefix,
        ),
        principals=IdentityPrincipals(),
        analytics=analytics,
        privacy=privacy,
        gateways=gateways,
        platforms=platforms,
        menu_cache=menu_cache,
        parts=[gateways, platforms, privacy, analytics, menu_cache, settings_cache],
    )
    db.context = Context(
        clock=clock,
        bus=rt.bus,
        merchants=IdentityDirectory(),
        members=IdentityMembers(),
        stock=rt.stock,
        kick=rt.sweeper.kick,
        # One set of domain-owned parts, reachable from a route (`rt.part`) or a session.
        parts=tuple(rt.parts),
    )
    _subscribe(rt)
    _sweeps(rt)
    return rt


def _privacy(settings: Settings, db: Database, analytics: Pipeline) -> PrivacyRegistry:
    """Each domain answers for its tables in the data export and the account erasure."""
    registry = PrivacyRegistry()
    for module in (
        identity_privacy,
        orders_privacy,
        payments_privacy,
        loyalty_privacy,
        promotions_privacy,
        mall_privacy,
        alliance_privacy,
        compliance_privacy,
        engagement_privacy,
        # Before the campaigns: it gathers the member's device ids that shares strips.
        analytics_privacy,
        flash_sales_privacy,
        group_buys_privacy,
        bargains_privacy,
        distribution_privacy,
        invites_privacy,
        shares_privacy,
        lotteries_privacy,
    ):
        for handler in getattr(module, "HANDLERS", None) or [module.HANDLER]:
            registry.register(handler)
    registry.register_store("events", partial(analytics_privacy.erase_events, analytics))
    registry.retention["events"] = partial(analytics_privacy.expire_events, analytics.store)
    registry.data_map.update({f"events.{k}": v for k, v in EVENT_DATA_MAP.items() if v is not None})
    if settings.is_sqlite:
        registry.after_erasure.append(partial(_sqlite_forget, db))
    registry.merchant_name = identity.merchant_name
    return registry


async def _sqlite_forget(db: Database) -> None:
    """After an erasure: `secure_delete` (on for every connection) zeroed the freed space;
    a truncating checkpoint moves the write-ahead log's pages home and empties the log, so
    no old page of the member's rows stays in the data dir."""
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


async def load_pool(db: Database, pool: str) -> PoolState | None:
    """A stock pool's state from the database, by the owner its name starts with."""
    if pool.startswith(flash_sales_pool.POOL_PREFIX):
        return await flash_sales_pool.load_pool(db, pool)
    raise ValueError(f"no campaign owns the stock pool {pool!r}")


def use_stock_backend(rt: Runtime, stock: StockBackend) -> None:
    """Swap the stock backend (tests and benchmarks compare them on one runtime)."""
    rt.stock = stock
    assert rt.db.context is not None
    rt.db.context = dataclasses.replace(rt.db.context, stock=stock)


def _subscribe(rt: AppRuntime) -> None:
    """Who reacts to what, by event class (mypy checks each handler against its event).
    Every handler runs in the transaction of the action that emitted the event."""
    bus = rt.bus
    # A verified payment moves its order; a refund marks it.
    bus.on(PaymentSucceeded, partial(orders.on_payment_succeeded, gateways=rt.gateways))
    bus.on(RefundSucceeded, orders.on_refund_succeeded)
    # Loyalty reacts to orders in the same transaction: a paid order is never without
    # its enrolment, a completed one never without its points.
    bus.on(OrderPaid, loyalty.on_order_paid)
    bus.on(OrderCompleted, loyalty.on_order_completed)
    bus.on(OrderCancelled, loyalty.on_order_cancelled)
    bus.on(OrderRefunded, loyalty.on_order_refunded)
    bus.on(MemberLogin, loyalty.on_member_login)
    bus.on(MemberInvited, loyalty.on_member_invited)
    bus.on(MemberBirthday, loyalty.on_member_birthday)
    # Campaign stock follows its orders: paid units are sold, cancelled ones go back.
    bus.on(OrderPaid, flash_sales.on_order_paid)
    bus.on(OrderCancelled, flash_sales.on_order_cancelled)
    # A group counts a member once paid; a payer who finds it full moves or is refunded.
    bus.on(OrderPaid, partial(group_seats.on_order_paid, gateways=rt.gateways))
    bus.on(OrderCancelled, group_seats.on_order_cancelled)
    bus.on(OrderRefunded, group_seats.on_order_refunded)
    bus.on(OrderCancelled, bargains.on_order_cancelled)
    # Distribution: a promoter's link binds at login; commission follows the order.
    bus.on(MemberLogin, distribution.on_member_login)
    bus.on(OrderPaid, distribution.on_order_paid)
    bus.on(OrderCompleted, distribution.on_order_completed)
    bus.on(OrderRefunded, distribution.on_order_refunded)
    # Invite rewards: on the invitee's sign-up or first paid order.
    bus.on(MemberInvited, invites.on_member_invited)
    bus.on(OrderPaid, invites.on_order_paid)
    # Share tracking: what a shared link or poster brought to its sharer.
    bus.on(MemberLogin, shares.on_member_login)
    bus.on(OrderPaid, shares.on_order_paid)
    bus.on(BargainHelped, shares.on_bargain_helped)
    bus.on(GroupJoined, shares.on_group_joined)
    # Automatic coupons come with the event that earns them; a coupon that cannot be
    # granted is skipped, never a reason to fail the login or payment.
    bus.on(MemberRegistered, promotions.on_member_registered)
    bus.on(MemberEnrolled, promotions.on_member_enrolled)
    bus.on(MemberBirthdayGift, promotions.on_member_birthday_gift)
    bus.on(MemberTierChanged, promotions.on_member_tier_changed)
    # Business events wait in the analytics outbox with the action that caused them.
    analytics.record_business_events(
        bus,
        [
            MemberRegistered,
            MemberLogin,
            MemberInvited,
            MemberEnrolled,
            MemberTierChanged,
            OrderCreated,
            OrderPaid,
            OrderCompleted,
            OrderCancelled,
            OrderRefunded,
            OrderImported,
            CouponClaimed,
            MallRedeemed,
            FlashSalePurchased,
            GroupOpened,
            GroupJoined,
            GroupSucceeded,
            GroupFailed,
            BargainStarted,
            BargainHelped,
            BargainPurchased,
            LotteryDrew,
            InviteQualified,
            InviteRewarded,
            DistributionBound,
            CommissionFrozen,
            CommissionSettled,
            CommissionCancelled,
            # Every kind of step a share brings (`shares.STEPS`: opened ... joined).
            *shares.STEPS.values(),
        ],
    )


async def _purge_idempotency(rt: Runtime) -> int:
    async with rt.db.unit_of_work() as uow:
        return await idempotency.purge_expired(uow.session, rt.clock.now())


def _sweeps(rt: AppRuntime) -> None:
    rt.sweeper.add(
        "orders.expire", partial(orders_tasks.expire_due_orders, rt.db, rt.clock, rt.gateways)
    )
    rt.sweeper.add(
        "payments.refunds", partial(payments_tasks.retry_due_refunds, rt.db, rt.clock, rt.gateways)
    )
    rt.sweeper.add(
        "identity.birthdays", partial(identity_tasks.celebrate_birthdays, rt.db, rt.clock)
    )
    rt.sweeper.add("loyalty.expire", partial(loyalty_tasks.expire_due_points, rt.db, rt.clock))
    rt.sweeper.add("loyalty.tier_review", partial(loyalty_tasks.review_due_tiers, rt.db, rt.clock))
    rt.sweeper.add("flash_sales.close", partial(flash_sales_tasks.close_due_sales, rt.db, rt.clock))
    rt.sweeper.add(
        "distribution.settle", partial(distribution_tasks.settle_due_commissions, rt.db, rt.clock)
    )
    rt.sweeper.add(
        "group_buys.expire",
        partial(group_buys_tasks.expire_due_groups, rt.db, rt.clock, rt.gateways),
    )
    rt.sweeper.add("idempotency.purge", partial(_purge_idempotency, rt))
    rt.sweeper.add("compliance.deletions", partial(deletion.run_due, rt.db, rt.clock, rt.privacy))
    rt.sweeper.add("compliance.retention", partial(retention.sweep, rt.db, rt.clock, rt.privacy))
    rt.sweeper.add(
        "analytics.flush", partial(analytics_tasks.flush_outbox, rt.db, rt.analytics), on_kick=True
    )
    rt.sweeper.add("analytics.maintain", partial(analytics_tasks.maintain_store, rt.analytics))
    rt.sweeper.add(
        "analytics.alerts", partial(analytics_tasks.evaluate_due, rt.db, rt.clock, rt.analytics)
    )
    rt.sweeper.add(
        "analytics.webhooks",
        partial(analytics_tasks.deliver_webhooks, rt.db, rt.clock, rt.analytics),
        on_kick=True,
    )
