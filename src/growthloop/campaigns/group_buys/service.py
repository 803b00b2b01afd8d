"""Group-buy rules (拼团). Never commits.

    open / join  -> an order at the group price, the member `pending` in the group
    order paid   -> the member takes a seat (guarded: never more than `size`);
                    the last seat makes the group `succeeded`
    group full   -> the payer goes into another forming group with a seat, or one they
                    lead (overflow "new_group"), or is refunded (overflow "refund")
    expiry       -> short of members: `failed`, every paid order refunded with its stable
                    refund number (RO<order id>; a failed attempt is retried by the
                    payments sweep until done) and every unpaid one cancelled; or, with
                    `auto_succeed_min` paid members, `succeeded` anyway (模拟成团)
    refund       -> while the group forms, the member leaves it and frees the seat; once it
                    has succeeded or failed, the seat stays theirs, marked refunded

A group's `members` is its seats held and its `member_list` those seats, so the two agree
in every state: a failed group lists the members who had paid, each `refunded`. Every
order line names its group (`campaign_ref`), moved with the member if they are seated in
another group.

Group orders take the product's stock at checkout like any order and give it back when
cancelled or refunded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import windows
from growthloop.campaigns.errors import InvalidCampaign, PriceNotBelowRegular
from growthloop.campaigns.group_buys import repository as repo
from growthloop.campaigns.group_buys.errors import (
    AlreadyEnded,
    AlreadyInGroup,
    GroupBuyNotFound,
    GroupFull,
    GroupNotForming,
    GroupNotFound,
)
from growthloop.campaigns.group_buys.models import Group, GroupBuy, GroupMember
from growthloop.campaigns.group_buys.schemas import (
    AdminGroupBuyOut,
    GroupBuyIn,
    GroupBuyOut,
    GroupMemberOut,
    GroupOut,
    JoinIn,
    MyGroupOut,
    MyPlaceOut,
)
from growthloop.catalog import service as catalog
from growthloop.core import audit, references
from growthloop.core.auth import ensure_same_merchant
from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.events import DomainEvent, NamedEvent, emit
from growthloop.core.ids import new_id
from growthloop.core.pagination import PageParams, make_page
from growthloop.orders import service as orders
from growthloop.orders.schemas import OrderIn, OrderItemIn, OrderOut
from growthloop.payments.service import PaymentGateway

Gateways = Mapping[str, PaymentGateway]

OPENED = "group.opened"
JOINED = "group.joined"
SUCCEEDED = "group.succeeded"
FAILED = "group.failed"


_now = windows.now_of


async def _event(
    session: AsyncSession, name: str, group: Group, member_id: str | None = None, **extra: object
) -> None:
    payload = {"group_id": group.id, "group_buy_id": group.group_buy_id, **extra}
    await emit(session, NamedEvent(name, group.merchant_id, payload, member_id))


# ---- campaigns (operators) ------------------------------------------------------------


campaign_status = windows.status


async def create_group_buy(
    session: AsyncSession, merchant_id: str, admin_id: str, data: GroupBuyIn
) -> GroupBuy:
    """422 `unknown_product` unless the product is the merchant's (an unknown id and
    another merchant's alike), 422 `price_not_below_regular` unless the group price is
    below the product's regular price."""
    now = _now(session)
    await references.check(
        session, merchant_id, table="products", field="product_id", ids=[data.product_id]
    )
    product = await catalog.access_product(session, merchant_id, data.product_id)
    if data.group_price >= product.price:
        raise PriceNotBelowRegular(
            f"The group price {data.group_price} fen is not below the product's regular "
            f"price {product.price} fen.",
            field="group_price",
            group_price=data.group_price,
            regular_price=product.price,
            product_id=product.id,
        )
    if data.ends_at is not None and data.ends_at <= now:
        raise InvalidCampaign("ends_at is in the past.", ends_at=data.ends_at.isoformat())
    gb = GroupBuy(
        merchant_id=merchant_id,
        product_id=product.id,
        name=data.name or product.name,
        group_price=data.group_price,
        group_size=data.group_size,
        duration_minutes=data.duration_minutes,
        starts_at=data.starts_at or now,
        ends_at=data.ends_at,
        overflow=data.overflow,
        auto_succeed_min=data.auto_succeed_min,
        created_at=now,
    )
    session.add(gb)
    await session.flush()
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action="group_buy.create",
        subject_type="group_buy",
        subject_id=gb.id,
        product_id=product.id,
        group_price=gb.group_price,
        group_size=gb.group_size,
    )
    return gb


async def access_group_buy(session: AsyncSession, merchant_id: str, group_buy_id: str) -> GroupBuy:
    gb = await repo.get_group_buy(session, group_buy_id)
    if gb is None:
        raise GroupBuyNotFound(group_buy_id=group_buy_id)
    ensure_same_merchant(gb.merchant_id, merchant_id)
    return gb


async def end_group_buy(
    session: AsyncSession, merchant_id: str, admin_id: str, group_buy_id: str
) -> GroupBuy:
    """No new groups from now on; groups already forming run to their own expiry."""
    gb = await access_group_buy(session, merchant_id, group_buy_id)
    await windows.end_early(
        session, gb, admin_id=admin_id, subject_type="group_buy", already_ended=AlreadyEnded
    )
    return gb


async def list_group_buys(
    session: AsyncSession, merchant_id: str, page: PageParams
) -> tuple[list[GroupBuy], str | None]:
    rows = await repo.list_group_buys(
        session, merchant_id, limit=page.limit, before_id=page.after_id
    )
    return make_page(rows, page)


async def group_buys_out(session: AsyncSession, rows: list[GroupBuy]) -> list[GroupBuyOut]:
    now = _now(session)
    prices = await catalog.prices_of(session, [g.product_id for g in rows])
    return [
        GroupBuyOut(
            id=gb.id,
            product_id=gb.product_id,
            name=gb.name,
            group_price=gb.group_price,
            regular_price=prices.get(gb.product_id, gb.group_price),
            group_size=gb.group_size,
            duration_minutes=gb.duration_minutes,
            starts_at=gb.starts_at,
            ends_at=gb.ends_at,
            overflow=gb.overflow,
            auto_succeed_min=gb.auto_succeed_min,
            status=campaign_status(gb, now),
        )
        for gb in rows
    ]


async def admin_group_buys_out(
    session: AsyncSession, rows: list[GroupBuy]
) -> list[AdminGroupBuyOut]:
    counts = await repo.group_counts(session, [g.id for g in rows]) if rows else {}
    return [
        AdminGroupBuyOut(
            **public.model_dump(),
            groups_forming=counts[gb.id].get("forming", 0),
            groups_succeeded=counts[gb.id].get("succeeded", 0),
            groups_failed=counts[gb.id].get("failed", 0),
            ended_early_at=gb.ended_early_at,
            created_at=gb.created_at,
        )
        for gb, public in zip(rows, await group_buys_out(session, rows), strict=True)
    ]


# ---- groups (members) -----------------------------------------------------------------


async def access_group(session: AsyncSession, merchant_id: str, group_id: str) -> Group:
    group = await repo.get_group(session, group_id)
    if group is None:
        raise GroupNotFound(group_id=group_id)
    ensure_same_merchant(group.merchant_id, merchant_id)
    return group


async def groups_out(
    session: AsyncSession, groups: list[Group], viewer: str | None = None
) -> list[GroupOut]:
    members = await repo.members_of(session, [g.id for g in groups]) if groups else {}
    return [
        GroupOut(
            id=g.id,
            group_buy_id=g.group_buy_id,
            status=g.status,
            size=g.size,
            members=g.paid_count,
            needed=0 if g.status == "succeeded" else g.size - g.paid_count,
            expires_at=g.expires_at,
            simulated=g.simulated,
            member_list=[
                GroupMemberOut(
                    role=m.role,
                    status=m.status,
                    paid_at=m.paid_at,
                    is_me=m.member_id == viewer,
                )
                for m in members[g.id]
            ],
            created_at=g.created_at,
            succeeded_at=g.succeeded_at,
            failed_at=g.failed_at,
        )
        for g in groups
    ]


async def list_groups(
    session: AsyncSession,
    merchant_id: str,
    group_buy_id: str,
    page: PageParams,
    status: str | None = None,
) -> tuple[list[Group], str | None]:
    """A campaign's groups in any status (operators), newest first."""
    gb = await access_group_buy(session, merchant_id, group_buy_id)
    rows = await repo.list_groups(
        session, merchant_id, gb.id, status=status, limit=page.limit, before_id=page.after_id
    )
    return make_page(rows, page)


async def my_groups(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    page: PageParams,
    status: str | None = None,
) -> tuple[list[MyGroupOut], str | None]:
    """The groups the member is in, finished ones too, newest first, with their place."""
    rows = await repo.groups_of_member(
        session, merchant_id, member_id, status=status, limit=page.limit, before_id=page.after_id
    )
    groups, cursor = make_page([group for group, _ in rows], page)
    places = {group.id: place for group, place in rows}
    out = await groups_out(session, groups, member_id)
    return [
        MyGroupOut(
            **g.model_dump(),
            me=MyPlaceOut(
                role=places[g.id].role,
                status=places[g.id].status,
                order_id=places[g.id].order_id,
                joined_at=places[g.id].joined_at,
                paid_at=places[g.id].paid_at,
                left_at=places[g.id].left_at,
            ),
        )
        for g in out
    ], cursor


async def group_square(
    session: AsyncSession, merchant_id: str, group_buy_id: str, page: PageParams
) -> tuple[list[Group], str | None]:
    """拼团广场: groups strangers can join (a paid member, a free seat, not expired)."""
    gb = await access_group_buy(session, merchant_id, group_buy_id)
    rows = await repo.forming_groups(
        session, gb.id, _now(session), limit=page.limit, offset_id=page.after_id
    )
    return make_page(rows, page)


async def _order(
    session: AsyncSession,
    gb: GroupBuy,
    group_id: str,
    member_id: str,
    data: JoinIn,
    payment_window: timedelta,
) -> OrderOut:
    order = await orders.create_order(
        session,
        merchant_id=gb.merchant_id,
        member_id=member_id,
        data=OrderIn(
            items=[OrderItemIn(product_id=gb.product_id, quantity=1, options=data.options)]
        ),
        payment_window=payment_window,
        campaigns=[
            orders.CampaignPrice("group_buy", gb.group_price, campaign_id=gb.id, ref=group_id)
        ],
    )
    return await orders.order_out(session, order)


async def _add_member(session: AsyncSession, member: GroupMember) -> None:
    try:
        async with session.begin_nested():
            session.add(member)
            await session.flush()
    except IntegrityError:
        raise AlreadyInGroup(group_id=member.group_id) from None


async def open_group(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    group_buy_id: str,
    data: JoinIn,
    payment_window: timedelta,
) -> tuple[Group, OrderOut]:
    gb = await access_group_buy(session, merchant_id, group_buy_id)
    now = _now(session)
    windows.ensure_running(gb, now)
    group_id = new_id()  # the order names its group
    order = await _order(session, gb, group_id, member_id, data, payment_window)
    group = Group(
        id=group_id,
        merchant_id=merchant_id,
        group_buy_id=gb.id,
        leader_member_id=member_id,
        size=gb.group_size,
        paid_count=0,
        status="forming",
        simulated=False,
        expires_at=now + timedelta(minutes=gb.duration_minutes),
        created_at=now,
    )
    session.add(group)
    await session.flush()
    await _add_member(
        session,
        GroupMember(
            merchant_id=merchant_id,
            group_buy_id=gb.id,
            group_id=group.id,
            member_id=member_id,
            order_id=order.id,
            role="leader",
            status="pending",
            joined_at=now,
        ),
    )
    await _event(session, OPENED, group, member_id, order_id=order.id)
    return group, order


async def join_group(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    group_id: str,
    data: JoinIn,
    payment_window: timedelta,
) -> tuple[Group, OrderOut]:
    group = await access_group(session, merchant_id, group_id)
    now = _now(session)
    if group.status != "forming" or group.expires_at <= now:
        raise GroupNotForming(group_id=group.id, status=group.status)
    if group.paid_count >= group.size:
        raise GroupFull(group_id=group.id)
    gb = await access_group_buy(session, merchant_id, group.group_buy_id)
    existing = await repo.member_in_group(session, group.id, member_id)
    if existing is not None and existing.status in ("pending", "paid"):
        raise AlreadyInGroup(group_id=group.id)
    order = await _order(session, gb, group.id, member_id, data, payment_window)
    if existing is not None:  # came back after a cancelled or refunded order: same place
        if not await repo.move_member(
            session,
            existing,
            existing.status,
            "pending",
            order_id=order.id,
            joined_at=now,
            paid_at=None,
            left_at=None,
        ):
            raise AlreadyInGroup(group_id=group.id)
    else:
        await _add_member(
            session,
            GroupMember(
                merchant_id=merchant_id,
                group_buy_id=gb.id,
                group_id=group.id,
                member_id=member_id,
                order_id=order.id,
                role="member",
                status="pending",
                joined_at=now,
            ),
        )
    await _event(session, JOINED, group, member_id, order_id=order.id, paid=False)
    return group, order


# ---- following the orders (in-transaction subscribers) --------------------------------


async def _seated(session: AsyncSession, gm: GroupMember, group: Group, count: int) -> None:
    now = _now(session)
    moved = gm.group_id != group.id
    await repo.move_member(session, gm, "pending", "paid", group_id=group.id, paid_at=now)
    if moved:  # seated in another group than the one they ordered for: the order follows
        await orders.move_campaign_ref(session, gm.order_id, gm.group_buy_id, group.id)
    await _event(session, JOINED, group, gm.member_id, order_id=gm.order_id, paid=True)
    if count >= group.size and await repo.move_group(
        session, group, "forming", "succeeded", paid_count=count, succeeded_at=now
    ):
        await _event(session, SUCCEEDED, group, members=count, simulated=False)


async def _refund_order(
    session: AsyncSession, gateways: Gateways, order_id: str, merchant_id: str
) -> None:
    order = await orders.access_order(session, merchant_id, order_id)
    if order.status in ("paid", "completed"):
        await orders.refund(session, gateways, order, by_operator=True, actor_type="system")


async def on_order_paid(session: AsyncSession, event: DomainEvent, gateways: Gateways) -> None:
    gm = await repo.member_of_order(session, str(event.payload["order_id"]))
    if gm is None or gm.status != "pending":
        return
    now = _now(session)
    group = await repo.get_group(session, gm.group_id)
    assert group is not None
    count = await repo.take_seat(session, group.id, now)
    if count is not None:
        await session.refresh(group)
        await _seated(session, gm, group, count)
        return
    # The group filled up, failed or expired before this payment arrived.
    gb = await repo.get_group_buy(session, gm.group_buy_id)
    assert gb is not None
    if gb.overflow == "new_group" and campaign_status(gb, now) == "running":
        for other_id in await repo.open_seat_groups(session, gb.id, gm.member_id, now):
            count = await repo.take_seat(session, other_id, now)
            if count is not None:
                other = await repo.get_group(session, other_id)
                assert other is not None
                await session.refresh(other)
                gm.role = "member"
                await _seated(session, gm, other, count)
                return
        # No group has a seat: the payer opens a new one and leads it.
        new = Group(
            merchant_id=gb.merchant_id,
            group_buy_id=gb.id,
            leader_member_id=gm.member_id,
            size=gb.group_size,
            paid_count=1,
            status="forming",
            simulated=False,
            expires_at=now + timedelta(minutes=gb.duration_minutes),
            created_at=now,
        )
        session.add(new)
        await session.flush()
        gm.role = "leader"
        await _event(session, OPENED, new, gm.member_id, order_id=gm.order_id, moved_from=group.id)
        await _seated(session, gm, new, 1)
        return
    if await repo.move_member(session, gm, "pending", "refunded"):
        await _refund_order(session, gateways, gm.order_id, gm.merchant_id)


async def on_order_cancelled(session: AsyncSession, event: DomainEvent) -> None:
    gm = await repo.member_of_order(session, str(event.payload["order_id"]))
    if gm is not None:
        await repo.move_member(session, gm, "pending", "cancelled")


async def on_order_refunded(session: AsyncSession, event: DomainEvent) -> None:
    """A paid member refunded while the group forms leaves it and gives their seat back;
    once the group has succeeded (or failed), the seat stays theirs, marked refunded."""
    gm = await repo.member_of_order(session, str(event.payload["order_id"]))
    if (
        gm is not None
        and await repo.move_member(session, gm, "paid", "refunded")
        and await repo.free_seat(session, gm.group_id)
    ):
        gm.left_at = _now(session)


# ---- the sweep ------------------------------------------------------------------------


async def expire_due_groups(db: Database, gateways: Gateways, clock: Clock, batch: int = 20) -> int:
    """Groups past their expiry: succeeded (enough members for 模拟成团) or failed, with
    every paid order refunded and every unpaid one cancelled. One transaction per group;
    claimed with SKIP LOCKED and moved by guarded updates, so several workers never act on
    one group twice."""
    total = 0
    while True:
        async with db.unit_of_work() as uow:
            ids = await repo.due_groups(uow.session, clock.now(), batch)
        for group_id in ids:
            async with db.unit_of_work() as uow:
                await _expire(uow.session, gateways, group_id)
        total += len(ids)
        if len(ids) < batch:
            return total


async def _expire(session: AsyncSession, gateways: Gateways, group_id: str) -> None:
    group = await repo.get_group(session, group_id)
    if group is None or group.status != "forming":
        return
    now = _now(session)
    gb = await repo.get_group_buy(session, group.group_buy_id)
    assert gb is not None
    if gb.auto_succeed_min is not None and group.paid_count >= gb.auto_succeed_min:
        if await repo.move_group(
            session, group, "forming", "succeeded", simulated=True, succeeded_at=now
        ):
            await _event(session, SUCCEEDED, group, members=group.paid_count, simulated=True)
        for gm in await repo.members_with_status(session, group.id, ("pending",)):
            await _cancel_order(session, gateways, gm)
        return
    if not await repo.move_group(session, group, "forming", "failed", failed_at=now):
        return
    await _event(session, FAILED, group, members=group.paid_count)
    for gm in await repo.members_with_status(session, group.id, ("paid", "pending")):
        if gm.status == "paid":
            if await repo.move_member(session, gm, "paid", "refunded"):
                await _refund_order(session, gateways, gm.order_id, gm.merchant_id)
        else:
            await _cancel_order(session, gateways, gm)


async def _cancel_order(session: AsyncSession, gateways: Gateways, gm: GroupMember) -> None:
    order = await orders.access_order(session, gm.merchant_id, gm.order_id)
    if order.status == "pending_payment":
        await orders.cancel(session, gateways, order, "group_closed")
