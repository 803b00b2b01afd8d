"""Bargain rules (砍价). Never commits.

A member starts an instance of a bargain at its original price and shares it; each
friend who helps cuts the price (`cuts.next_cut`) once, and a member helps at most
`helps_per_day` instances a day (the merchant's local day). The owner cannot help
themself, and may buy at the price reached at any time before the instance expires.
A help locks the instance's row, then counts the helper's day, records the help (unique
per helper and per position) and moves the price, all in one transaction: thirty
helpers at once cut one after another, each from the price the last one left.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import windows
from growthloop.campaigns.bargains import cuts
from growthloop.campaigns.bargains import repository as repo
from growthloop.campaigns.bargains.errors import (
    AlreadyEnded,
    AlreadyHelped,
    BargainNotFound,
    CannotHelpSelf,
    DailyHelpLimit,
    FloorReached,
    InstanceExpired,
    InstanceNotFound,
    InstanceNotOpen,
    NotTheOwner,
    OriginalPriceAboveRegular,
)
from growthloop.campaigns.bargains.models import Bargain, BargainHelp, BargainInstance
from growthloop.campaigns.bargains.schemas import (
    AdminBargainOut,
    BargainIn,
    BargainOut,
    BargainPurchaseIn,
    HelpOut,
    HelpResultOut,
    InstanceOut,
    InstanceStatus,
)
from growthloop.campaigns.errors import InvalidCampaign
from growthloop.catalog import service as catalog
from growthloop.core import audit, references
from growthloop.core.auth import ensure_same_merchant
from growthloop.core.context import merchant_today
from growthloop.core.events import DomainEvent, NamedEvent, emit
from growthloop.core.pagination import PageParams, make_page
from growthloop.orders import service as orders
from growthloop.orders.schemas import OrderIn, OrderItemIn, OrderOut

STARTED = "bargain.started"
HELPED = "bargain.helped"
PURCHASED = "bargain.purchased"


_now = windows.now_of


async def _event(
    session: AsyncSession, name: str, instance: BargainInstance, member_id: str, **extra: object
) -> None:
    payload = {"instance_id": instance.id, "bargain_id": instance.bargain_id, **extra}
    await emit(session, NamedEvent(name, instance.merchant_id, payload, member_id))


# ---- campaigns (operators) ------------------------------------------------------------


campaign_status = windows.status


async def create_bargain(
    session: AsyncSession, merchant_id: str, admin_id: str, data: BargainIn
) -> Bargain:
    """422 `unknown_product` unless the product is the merchant's; 422
    `original_price_above_regular` when the price it starts from is above the product's
    (the floor is below the original price, so it is below the regular price too)."""
    now = _now(session)
    await references.check(
        session, merchant_id, table="products", field="product_id", ids=[data.product_id]
    )
    product = await catalog.access_product(session, merchant_id, data.product_id)
    if data.original_price > product.price:
        raise OriginalPriceAboveRegular(
            f"The original price {data.original_price} fen is above the product's regular "
            f"price {product.price} fen.",
            original_price=data.original_price,
            regular_price=product.price,
            product_id=product.id,
        )
    if data.ends_at is not None and data.ends_at <= now:
        raise InvalidCampaign("ends_at is in the past.", ends_at=data.ends_at.isoformat())
    bargain = Bargain(
        merchant_id=merchant_id,
        product_id=product.id,
        name=data.name or product.name,
        original_price=data.original_price,
        floor_price=data.floor_price,
        helpers_needed=data.helpers_needed,
        duration_minutes=data.duration_minutes,
        helps_per_day=data.helps_per_day,
        starts_at=data.starts_at or now,
        ends_at=data.ends_at,
        created_at=now,
    )
    session.add(bargain)
    await session.flush()
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action="bargain.create",
        subject_type="bargain",
        subject_id=bargain.id,
        product_id=product.id,
        original_price=bargain.original_price,
        floor_price=bargain.floor_price,
    )
    return bargain


async def access_bargain(session: AsyncSession, merchant_id: str, bargain_id: str) -> Bargain:
    bargain = await repo.get_bargain(session, bargain_id)
    if bargain is None:
        raise BargainNotFound(bargain_id=bargain_id)
    ensure_same_merchant(bargain.merchant_id, merchant_id)
    return bargain


async def end_bargain(
    session: AsyncSession, merchant_id: str, admin_id: str, bargain_id: str
) -> Bargain:
    """No new instances from now on; the ones started run to their expiry."""
    bargain = await access_bargain(session, merchant_id, bargain_id)
    await windows.end_early(
        session, bargain, admin_id=admin_id, subject_type="bargain", already_ended=AlreadyEnded
    )
    return bargain


async def list_bargains(
    session: AsyncSession, merchant_id: str, page: PageParams
) -> tuple[list[Bargain], str | None]:
    rows = await repo.list_bargains(session, merchant_id, limit=page.limit, before_id=page.after_id)
    return make_page(rows, page)


def bargains_out(rows: list[Bargain], now: datetime) -> list[BargainOut]:
    return [
        BargainOut(
            id=b.id,
            product_id=b.product_id,
            name=b.name,
            original_price=b.original_price,
            floor_price=b.floor_price,
            helpers_needed=b.helpers_needed,
            duration_minutes=b.duration_minutes,
            helps_per_day=b.helps_per_day,
            starts_at=b.starts_at,
            ends_at=b.ends_at,
            status=campaign_status(b, now),
        )
        for b in rows
    ]


async def admin_bargains_out(session: AsyncSession, rows: list[Bargain]) -> list[AdminBargainOut]:
    counts = await repo.instance_counts(session, [b.id for b in rows]) if rows else {}
    return [
        AdminBargainOut(
            **public.model_dump(),
            instances=counts[b.id][0],
            purchased=counts[b.id][1],
            ended_early_at=b.ended_early_at,
            created_at=b.created_at,
        )
        for b, public in zip(rows, bargains_out(rows, _now(session)), strict=True)
    ]


# ---- instances (members) --------------------------------------------------------------


def instance_status(instance: BargainInstance, now: datetime) -> InstanceStatus:
    if instance.status != "purchased" and now >= instance.expires_at:
        return "expired"
    return instance.status  # type: ignore[return-value]


async def access_instance(
    session: AsyncSession, merchant_id: str, instance_id: str, *, for_update: bool = False
) -> BargainInstance:
    instance = await repo.get_instance(session, instance_id, for_update=for_update)
    if instance is None:
        raise InstanceNotFound(instance_id=instance_id)
    ensure_same_merchant(instance.merchant_id, merchant_id)
    return instance


async def instance_out(
    session: AsyncSession, instance: BargainInstance, viewer: str | None
) -> InstanceOut:
    helps = await repo.helps_of(session, instance.id)
    return InstanceOut(
        id=instance.id,
        bargain_id=instance.bargain_id,
        original_price=instance.original_price,
        floor_price=instance.floor_price,
        current_price=instance.current_price,
        helpers_needed=instance.helpers_needed,
        helps=instance.helps,
        helpers_left=instance.helpers_needed - instance.helps,
        status=instance_status(instance, _now(session)),
        expires_at=instance.expires_at,
        order_id=instance.order_id,
        is_mine=viewer == instance.owner_member_id,
        cuts=[
            HelpOut(
                seq=h.seq,
                cut=h.cut,
                price_after=h.price_after,
                created_at=h.created_at,
                is_me=h.helper_member_id == viewer,
            )
            for h in helps
        ],
        created_at=instance.created_at,
    )


async def start(
    session: AsyncSession, merchant_id: str, member_id: str, bargain_id: str
) -> tuple[BargainInstance, bool]:
    """The member's instance of the bargain: their open one if they have one (False), or a
    new one at the original price (True)."""
    bargain = await access_bargain(session, merchant_id, bargain_id)
    now = _now(session)
    existing = await repo.open_instance_of(session, bargain.id, member_id, now)
    if existing is not None:
        return existing, False
    windows.ensure_running(bargain, now)
    instance = BargainInstance(
        merchant_id=merchant_id,
        bargain_id=bargain.id,
        owner_member_id=member_id,
        original_price=bargain.original_price,
        floor_price=bargain.floor_price,
        helpers_needed=bargain.helpers_needed,
        current_price=bargain.original_price,
        helps=0,
        status="active",
        expires_at=now + timedelta(minutes=bargain.duration_minutes),
        created_at=now,
    )
    session.add(instance)
    await session.flush()
    await _event(session, STARTED, instance, member_id)
    return instance, True


async def help_cut(
    session: AsyncSession, merchant_id: str, helper_id: str, instance_id: str
) -> HelpResultOut:
    instance = await access_instance(session, merchant_id, instance_id, for_update=True)
    now = _now(session)
    if instance.owner_member_id == helper_id:
        raise CannotHelpSelf()
    status = instance_status(instance, now)
    if status == "expired":
        raise InstanceExpired(expired_at=instance.expires_at.isoformat())
    if status == "purchased":
        raise InstanceNotOpen()
    if await repo.has_helped(session, instance.id, helper_id):
        raise AlreadyHelped()
    if status == "floor_reached":
        raise FloorReached(current_price=instance.current_price)
    bargain = await repo.get_bargain(session, instance.bargain_id)
    assert bargain is not None
    day = await merchant_today(session, merchant_id)
    if not await repo.count_help_day(session, merchant_id, helper_id, day, bargain.helps_per_day):
        raise DailyHelpLimit(helps_per_day=bargain.helps_per_day)
    helpers_left = instance.helpers_needed - instance.helps
    cut = cuts.next_cut(instance.current_price - instance.floor_price, helpers_left)
    price = instance.current_price - cut
    try:
        async with session.begin_nested():
            session.add(
                BargainHelp(
                    merchant_id=merchant_id,
                    instance_id=instance.id,
                    helper_member_id=helper_id,
                    seq=instance.helps + 1,
                    cut=cut,
                    price_after=price,
                    created_at=now,
                )
            )
            await session.flush()
    except IntegrityError:
        raise AlreadyHelped() from None
    helps = instance.helps + 1
    after = "floor_reached" if helps == instance.helpers_needed else "active"
    moved = await repo.move_instance(
        session, instance, ("active",), after, current_price=price, helps=helps
    )
    assert moved, "the instance's row is locked by this transaction"
    await _event(session, HELPED, instance, helper_id, cut=cut, current_price=price, seq=helps)
    return HelpResultOut(
        cut=cut,
        current_price=price,
        helps=helps,
        helpers_left=instance.helpers_needed - helps,
        status=after,
    )


async def purchase(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    instance_id: str,
    data: BargainPurchaseIn,
    payment_window: timedelta,
) -> OrderOut:
    """The owner buys at the price reached; the instance is closed to helpers. If the
    order is cancelled or expires unpaid, the instance opens again until its own expiry."""
    instance = await access_instance(session, merchant_id, instance_id, for_update=True)
    if instance.owner_member_id != member_id:
        raise NotTheOwner()
    now = _now(session)
    status = instance_status(instance, now)
    if status == "expired":
        raise InstanceExpired(expired_at=instance.expires_at.isoformat())
    if status == "purchased":
        raise InstanceNotOpen(order_id=instance.order_id)
    bargain = await repo.get_bargain(session, instance.bargain_id)
    assert bargain is not None
    order = await orders.create_order(
        session,
        merchant_id=merchant_id,
        member_id=member_id,
        data=OrderIn(
            items=[OrderItemIn(product_id=bargain.product_id, quantity=1, options=data.options)]
        ),
        payment_window=payment_window,
        campaigns=[
            orders.CampaignPrice(
                "bargain", instance.current_price, campaign_id=bargain.id, ref=instance.id
            )
        ],
    )
    await repo.move_instance(
        session,
        instance,
        ("active", "floor_reached"),
        "purchased",
        order_id=order.id,
        purchased_at=now,
    )
    await _event(
        session, PURCHASED, instance, member_id, order_id=order.id, price=instance.current_price
    )
    return await orders.order_out(session, order)


async def on_order_cancelled(session: AsyncSession, event: DomainEvent) -> None:
    """An unpaid bargain order that is cancelled gives the owner their instance back."""
    instance = await repo.instance_of_order(session, str(event.payload["order_id"]))
    if instance is None:
        return
    back = "floor_reached" if instance.helps >= instance.helpers_needed else "active"
    await repo.move_instance(
        session, instance, ("purchased",), back, order_id=None, purchased_at=None
    )
