"""A group's seats follow its orders, and a group past its expiry is settled: the
"order paid", "group full", "expiry" and "refund" lines of the table in `service.py`.
In-transaction subscribers of the order events (and the sweep's work on one group);
never commits. Every move of a seat or a group is a guarded update, so a payment, a
refund and the sweep arriving at once never count a seat twice.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import windows
from growthloop.campaigns.group_buys import repository as repo
from growthloop.campaigns.group_buys import service
from growthloop.campaigns.group_buys.events import (
    GroupFailed,
    GroupJoined,
    GroupOpened,
    GroupSucceeded,
)
from growthloop.campaigns.group_buys.models import Group, GroupMember
from growthloop.core.context import now
from growthloop.core.events import emit
from growthloop.orders import service as orders
from growthloop.orders.events import OrderCancelled, OrderPaid, OrderRefunded
from growthloop.payments.service import Gateways


async def _seated(session: AsyncSession, gm: GroupMember, group: Group, count: int) -> None:
    at = now(session)
    moved = gm.group_id != group.id
    await repo.move_member(session, gm, "pending", "paid", group_id=group.id, paid_at=at)
    if moved:  # seated in another group than the one they ordered for: the order follows
        await orders.move_campaign_ref(session, gm.order_id, gm.group_buy_id, group.id)
    await emit(
        session,
        GroupJoined(**service.seat_ids(group, gm.member_id, gm.order_id), paid=True),
    )
    if count >= group.size and await repo.move_group(
        session, group, "forming", "succeeded", paid_count=count, succeeded_at=at
    ):
        await _succeeded(session, group, count, simulated=False)


async def _succeeded(session: AsyncSession, group: Group, members: int, *, simulated: bool) -> None:
    await emit(
        session,
        GroupSucceeded(**service.group_ids(group), members=members, simulated=simulated),
    )


async def _refund_order(
    session: AsyncSession, gateways: Gateways, order_id: str, merchant_id: str
) -> None:
    order = await orders.access_order(session, merchant_id, order_id)
    if order.status in ("paid", "completed"):
        await orders.refund(session, gateways, order, by_operator=True, actor_type="system")


async def _cancel_order(session: AsyncSession, gateways: Gateways, gm: GroupMember) -> None:
    order = await orders.access_order(session, gm.merchant_id, gm.order_id)
    if order.status == "pending_payment":
        await orders.cancel(session, gateways, order, "group_closed")


async def on_order_paid(session: AsyncSession, event: OrderPaid, gateways: Gateways) -> None:
    if event.campaign_kind is None:
        return
    gm = await repo.member_of_order(session, event.order_id)
    if gm is None or gm.status != "pending":
        return
    at = now(session)
    group = await repo.get_group(session, gm.group_id)
    assert group is not None
    count = await repo.take_seat(session, group.id, at)
    if count is not None:
        await session.refresh(group)
        await _seated(session, gm, group, count)
        return
    # The group filled up, failed or expired before this payment arrived.
    gb = await repo.get_group_buy(session, gm.group_buy_id)
    assert gb is not None
    if gb.overflow == "new_group" and windows.status(gb, at) == "running":
        for other_id in await repo.open_seat_groups(session, gb.id, gm.member_id, at):
            count = await repo.take_seat(session, other_id, at)
            if count is not None:
                other = await repo.get_group(session, other_id)
                assert other is not None
                await session.refresh(other)
                gm.role = "member"
                await _seated(session, gm, other, count)
                return
        # No group has a seat: the payer opens a new one and leads it.
        new = service.new_group(gb, gm.member_id, at, paid_count=1)
        session.add(new)
        await session.flush()
        gm.role = "leader"
        await emit(
            session,
            GroupOpened(**service.seat_ids(new, gm.member_id, gm.order_id), moved_from=group.id),
        )
        await _seated(session, gm, new, 1)
        return
    if await repo.move_member(session, gm, "pending", "refunded"):
        await _refund_order(session, gateways, gm.order_id, gm.merchant_id)


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    if event.campaign_kind is None:
        return
    gm = await repo.member_of_order(session, event.order_id)
    if gm is not None:
        await repo.move_member(session, gm, "pending", "cancelled")


async def on_order_refunded(session: AsyncSession, event: OrderRefunded) -> None:
    """A paid member refunded while the group forms leaves it and gives their seat back;
    once the group has succeeded (or failed), the seat stays theirs, marked refunded."""
    if event.campaign_kind is None:
        return
    gm = await repo.member_of_order(session, event.order_id)
    if (
        gm is not None
        and await repo.move_member(session, gm, "paid", "refunded")
        and await repo.free_seat(session, gm.group_id)
    ):
        gm.left_at = now(session)


async def expire_group(session: AsyncSession, gateways: Gateways, group_id: str) -> None:
    """Settle a group past its expiry, if it still forms (a guarded move: two workers
    never settle one group twice)."""
    group = await repo.get_group(session, group_id)
    if group is None or group.status != "forming":
        return
    at = now(session)
    gb = await repo.get_group_buy(session, group.group_buy_id)
    assert gb is not None
    if gb.auto_succeed_min is not None and group.paid_count >= gb.auto_succeed_min:
        if await repo.move_group(
            session, group, "forming", "succeeded", simulated=True, succeeded_at=at
        ):
            await _succeeded(session, group, group.paid_count, simulated=True)
        for gm in await repo.members_with_status(session, group.id, ("pending",)):
            await _cancel_order(session, gateways, gm)
        return
    if not await repo.move_group(session, group, "forming", "failed", failed_at=at):
        return
    await emit(
        session,
        GroupFailed(**service.group_ids(group), members=group.paid_count),
    )
    for gm in await repo.members_with_status(session, group.id, ("paid", "pending")):
        if gm.status == "paid":
            if await repo.move_member(session, gm, "paid", "refunded"):
                await _refund_order(session, gateways, gm.order_id, gm.merchant_id)
        else:
            await _cancel_order(session, gateways, gm)
