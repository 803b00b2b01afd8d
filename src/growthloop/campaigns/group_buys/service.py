"""Group-buy rules (拼团): operators' campaigns, members opening and joining groups. Never
commits.

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

This module holds the first line; `seats.py` follows the orders (payment, cancellation,
refund) and settles a group at its expiry, which `tasks.py` sweeps for.

A group's `members` is its seats held and its `member_list` those seats, so the two agree
in every state: a failed group lists the members who had paid, each `refunded`. Every
order line names its group (`campaign_ref`), moved with the member if they are seated in
another group.

Group orders take the product's stock at checkout like any order and give it back when
cancelled or refunded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypedDict

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import creation, windows
from growthloop.campaigns.group_buys import repository as repo
from growthloop.campaigns.group_buys.errors import (
    AlreadyEnded,
    AlreadyInGroup,
    GroupBuyNotFound,
    GroupFull,
    GroupNotForming,
    GroupNotFound,
)
from growthloop.campaigns.group_buys.events import GroupJoined, GroupOpened
from growthloop.campaigns.group_buys.models import Group, GroupBuy, GroupMember
from growthloop.campaigns.group_buys.schemas import GroupBuyIn, JoinIn
from growthloop.campaigns.kinds import CampaignKind
from growthloop.core.context import now
from growthloop.core.events import emit
from growthloop.core.ids import new_id
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import PageParams, fetch_page, make_page
from growthloop.orders import service as orders
from growthloop.orders.schemas import OrderIn, OrderItemIn, OrderOut

# ---- campaigns (operators) ------------------------------------------------------------


# Ending one: no new groups from now on; groups already forming run to their own expiry.
GROUP_BUYS = CampaignKind(
    GroupBuy,
    "group_buy",
    lambda i: GroupBuyNotFound(group_buy_id=i),
    AlreadyEnded,
    audited=("product_id", "group_price", "group_size"),
)


async def create_group_buy(
    session: AsyncSession, merchant_id: str, admin_id: str, data: GroupBuyIn
) -> GroupBuy:
    """422 `unknown_product` unless the product is the merchant's (an unknown id and
    another merchant's alike), 422 `price_not_below_regular` unless the group price is
    below the product's regular price."""
    product = await creation.product_sold(session, merchant_id, data)
    creation.ensure_below_regular(
        product, data.group_price, "group price", field="group_price", group_price=data.group_price
    )
    return await GROUP_BUYS.create(
        session, merchant_id, admin_id, data, **creation.selling(product, data)
    )


get_group_buy = GROUP_BUYS.get


# ---- groups (members) -----------------------------------------------------------------


async def get_group(session: AsyncSession, merchant_id: str, group_id: str) -> Group:
    return await get_owned(session, Group, group_id, merchant_id, GroupNotFound(group_id=group_id))


async def list_groups(
    session: AsyncSession,
    merchant_id: str,
    group_buy_id: str,
    page: PageParams,
    status: str | None = None,
) -> tuple[list[Group], str | None]:
    """A campaign's groups in any status (operators), newest first."""
    gb = await get_group_buy(session, merchant_id, group_buy_id)
    return await fetch_page(session, repo.groups_of(merchant_id, gb.id, status), Group.id, page)


async def my_groups(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    page: PageParams,
    status: str | None = None,
) -> tuple[list[tuple[Group, GroupMember]], str | None]:
    """The groups the member is in, finished ones too, newest first, with their place."""
    stmt = repo.groups_of_member(merchant_id, member_id, status)
    groups, cursor = await fetch_page(session, stmt, Group.id, page)
    places = await repo.places_of(session, member_id, [g.id for g in groups])
    return [(group, places[group.id]) for group in groups], cursor


async def group_square(
    session: AsyncSession, merchant_id: str, group_buy_id: str, page: PageParams
) -> tuple[list[Group], str | None]:
    """拼团广场: groups strangers can join (a paid member, a free seat, not expired), the
    oldest (soonest to close) first."""
    gb = await get_group_buy(session, merchant_id, group_buy_id)
    rows = await repo.forming_groups(
        session, gb.id, now(session), limit=page.limit, offset_id=page.after_id
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
    placed = await orders.create_order(
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
    return await orders.order_out(session, placed.order, placed.lines)


def new_group(
    gb: GroupBuy, leader_id: str, at: datetime, *, paid_count: int = 0, group_id: str = ""
) -> Group:
    """A group of the campaign forming from `at`, led by `leader_id`."""
    return Group(
        id=group_id or new_id(),
        merchant_id=gb.merchant_id,
        group_buy_id=gb.id,
        leader_member_id=leader_id,
        size=gb.group_size,
        paid_count=paid_count,
        status="forming",
        simulated=False,
        expires_at=at + timedelta(minutes=gb.duration_minutes),
        created_at=at,
    )


class GroupIds(TypedDict):
    """What every group event names: the group, its campaign and its merchant."""

    merchant_id: str
    group_id: str
    group_buy_id: str


def group_ids(group: Group) -> GroupIds:
    return GroupIds(
        merchant_id=group.merchant_id, group_id=group.id, group_buy_id=group.group_buy_id
    )


class SeatIds(GroupIds):
    """What a seat's events name besides: the member taking it, and the order paying for it."""

    member_id: str
    order_id: str


def seat_ids(group: Group, member_id: str, order_id: str) -> SeatIds:
    return SeatIds(**group_ids(group), member_id=member_id, order_id=order_id)


async def _add_member(
    session: AsyncSession, group: Group, member_id: str, order_id: str, role: str, at: datetime
) -> None:
    """The member's place in the group, waiting for their order's payment."""
    try:
        async with session.begin_nested():
            session.add(
                GroupMember(
                    merchant_id=group.merchant_id,
                    group_buy_id=group.group_buy_id,
                    group_id=group.id,
                    member_id=member_id,
                    order_id=order_id,
                    role=role,
                    status="pending",
                    joined_at=at,
                )
            )
            await session.flush()
    except IntegrityError:
        raise AlreadyInGroup(group_id=group.id) from None


async def open_group(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    group_buy_id: str,
    data: JoinIn,
    payment_window: timedelta,
) -> tuple[Group, OrderOut]:
    gb = await get_group_buy(session, merchant_id, group_buy_id)
    at = now(session)
    windows.ensure_running(gb, at)
    group_id = new_id()  # the order names its group
    order = await _order(session, gb, group_id, member_id, data, payment_window)
    group = new_group(gb, member_id, at, group_id=group_id)
    session.add(group)
    await session.flush()
    await _add_member(session, group, member_id, order.id, "leader", at)
    await emit(
        session,
        GroupOpened(**seat_ids(group, member_id, order.id)),
    )
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
    group = await get_group(session, merchant_id, group_id)
    at = now(session)
    if group.status != "forming" or group.expires_at <= at:
        raise GroupNotForming(group_id=group.id, status=group.status)
    if group.paid_count >= group.size:
        raise GroupFull(group_id=group.id)
    gb = await get_group_buy(session, merchant_id, group.group_buy_id)
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
            joined_at=at,
            paid_at=None,
            left_at=None,
        ):
            raise AlreadyInGroup(group_id=group.id)
    else:
        await _add_member(session, group, member_id, order.id, "member", at)
    await emit(
        session,
        GroupJoined(**seat_ids(group, member_id, order.id), paid=False),
    )
    return group, order
