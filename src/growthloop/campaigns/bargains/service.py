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
from typing import TypedDict

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import creation, windows
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
from growthloop.campaigns.bargains.events import (
    BargainHelped,
    BargainPurchased,
    BargainStarted,
)
from growthloop.campaigns.bargains.models import Bargain, BargainHelp, BargainInstance
from growthloop.campaigns.bargains.schemas import (
    BargainIn,
    BargainPurchaseIn,
    HelpResultOut,
    InstanceStatus,
)
from growthloop.campaigns.kinds import CampaignKind
from growthloop.core.context import merchant_today, now
from growthloop.core.events import emit
from growthloop.core.ownership import get_owned
from growthloop.orders import service as orders
from growthloop.orders.events import OrderCancelled
from growthloop.orders.schemas import OrderIn, OrderItemIn, OrderOut

# ---- campaigns (operators) ------------------------------------------------------------


# Ending one: no new instances from now on; the ones started run to their expiry.
BARGAINS = CampaignKind(
    Bargain,
    "bargain",
    lambda i: BargainNotFound(bargain_id=i),
    AlreadyEnded,
    audited=("product_id", "original_price", "floor_price"),
)


async def create_bargain(
    session: AsyncSession, merchant_id: str, admin_id: str, data: BargainIn
) -> Bargain:
    """422 `unknown_product` unless the product is the merchant's; 422
    `original_price_above_regular` when the price it starts from is above the product's
    (the floor is below the original price, so it is below the regular price too)."""
    product = await creation.product_sold(session, merchant_id, data)
    if data.original_price > product.price:
        raise OriginalPriceAboveRegular(
            f"The original price {data.original_price} fen is above the product's regular "
            f"price {product.price} fen.",
            original_price=data.original_price,
            regular_price=product.price,
            product_id=product.id,
        )
    return await BARGAINS.create(
        session, merchant_id, admin_id, data, **creation.selling(product, data)
    )


get_bargain = BARGAINS.get


# ---- instances (members) --------------------------------------------------------------


def instance_status(instance: BargainInstance, now: datetime) -> InstanceStatus:
    if instance.status != "purchased" and now >= instance.expires_at:
        return "expired"
    return instance.status  # type: ignore[return-value]


async def get_instance(
    session: AsyncSession, merchant_id: str, instance_id: str, *, for_update: bool = False
) -> BargainInstance:
    """`for_update` locks the instance's row until the transaction ends: concurrent
    helpers of one instance queue here (SQLite's single writer already serialises them)."""
    return await get_owned(
        session,
        BargainInstance,
        instance_id,
        merchant_id,
        InstanceNotFound(instance_id=instance_id),
        for_update=for_update,
    )


class InstanceIds(TypedDict):
    """What every bargain event names: the instance, its bargain and its merchant."""

    merchant_id: str
    instance_id: str
    bargain_id: str


def instance_ids(instance: BargainInstance) -> InstanceIds:
    return InstanceIds(
        merchant_id=instance.merchant_id, instance_id=instance.id, bargain_id=instance.bargain_id
    )


async def start(
    session: AsyncSession, merchant_id: str, member_id: str, bargain_id: str
) -> tuple[BargainInstance, bool]:
    """The member's instance of the bargain: their open one if they have one (False), or a
    new one at the original price (True)."""
    bargain = await get_bargain(session, merchant_id, bargain_id)
    at = now(session)
    existing = await repo.open_instance_of(session, bargain.id, member_id, at)
    if existing is not None:
        return existing, False
    windows.ensure_running(bargain, at)
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
        expires_at=at + timedelta(minutes=bargain.duration_minutes),
        created_at=at,
    )
    session.add(instance)
    await session.flush()
    await emit(
        session,
        BargainStarted(**instance_ids(instance), member_id=member_id),
    )
    return instance, True


async def help_cut(
    session: AsyncSession, merchant_id: str, helper_id: str, instance_id: str
) -> HelpResultOut:
    instance = await get_instance(session, merchant_id, instance_id, for_update=True)
    at = now(session)
    if instance.owner_member_id == helper_id:
        raise CannotHelpSelf()
    status = instance_status(instance, at)
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
                    created_at=at,
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
    await emit(
        session,
        BargainHelped(
            **instance_ids(instance),
            member_id=helper_id,
            cut=cut,
            current_price=price,
            seq=helps,
        ),
    )
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
    instance = await get_instance(session, merchant_id, instance_id, for_update=True)
    if instance.owner_member_id != member_id:
        raise NotTheOwner()
    at = now(session)
    status = instance_status(instance, at)
    if status == "expired":
        raise InstanceExpired(expired_at=instance.expires_at.isoformat())
    if status == "purchased":
        raise InstanceNotOpen(order_id=instance.order_id)
    bargain = await repo.get_bargain(session, instance.bargain_id)
    assert bargain is not None
    placed = await orders.create_order(
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
    order = placed.order
    await repo.move_instance(
        session,
        instance,
        ("active", "floor_reached"),
        "purchased",
        order_id=order.id,
        purchased_at=at,
    )
    await emit(
        session,
        BargainPurchased(
            **instance_ids(instance),
            member_id=member_id,
            order_id=order.id,
            price=instance.current_price,
        ),
    )
    return await orders.order_out(session, order, placed.lines)


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    """An unpaid bargain order that is cancelled gives the owner their instance back."""
    if event.campaign_kind is None:
        return
    instance = await repo.instance_of_order(session, event.order_id)
    if instance is None:
        return
    back = "floor_reached" if instance.helps >= instance.helpers_needed else "active"
    await repo.move_instance(
        session, instance, ("purchased",), back, order_id=None, purchased_at=None
    )
