"""Loyalty's reactions to other domains' events, in the emitter's transaction (subscribed
in growthloop.wiring).

Orders: paid -> 支付即会员 enrolment, completed -> earn + growth, cancelled -> points given
back, refunded -> earning reversed and spent points given back. Identity: a login day and
an invitation count towards tiers; a birthday gives the tier's birthday points.

Orders sits above loyalty and identity beside it, so loyalty does not import their event
classes: each handler takes a Protocol of the fields it reads.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import now
from growthloop.core.events import AboutMember, emit
from growthloop.loyalty import ledger
from growthloop.loyalty import repository as repo
from growthloop.loyalty.checkin import count_login_day
from growthloop.loyalty.events import MemberBirthdayGift, MemberEnrolled
from growthloop.loyalty.program import award_points, in_programme, program_of
from growthloop.loyalty.service import give_back_points
from growthloop.loyalty.tiers import count_growth, current_tier, evaluate_tier

# ---- what the handlers read ---------------------------------------------------------------


class OrderEvent(AboutMember, Protocol):
    """orders' order.paid and order.cancelled."""

    @property
    def order_id(self) -> str: ...


class RefundedOrder(OrderEvent, Protocol):
    """orders' order.refunded."""

    @property
    def payable(self) -> int: ...


class CompletedOrder(RefundedOrder, Protocol):
    """orders' order.completed."""

    @property
    def source(self) -> str: ...


class MemberLogin(AboutMember, Protocol):
    """identity's member.login: `day` is the merchant's local day, ISO."""

    @property
    def day(self) -> str: ...


class MemberBirthday(AboutMember, Protocol):
    """identity's member.birthday."""

    @property
    def year(self) -> int: ...


# ---- orders -------------------------------------------------------------------------------


async def _give_back_order_points(session: AsyncSession, event: OrderEvent, reason: str) -> None:
    assert event.member_id is not None
    await give_back_points(
        session,
        event.merchant_id,
        event.member_id,
        spend_key=f"order:{event.order_id}:spend",
        key=f"order:{event.order_id}:spend-return",
        reason=reason,
    )


async def on_order_cancelled(session: AsyncSession, event: OrderEvent) -> None:
    if event.member_id:
        await _give_back_order_points(session, event, "order_cancelled")


async def on_order_paid(session: AsyncSession, event: OrderEvent) -> None:
    """支付即会员: the first paid order of a member who agreed to join (consent "membership",
    given at any time before, e.g. the checkout's tick box) enrols them and grants the welcome
    gift. Without that consent, paying makes no one a member."""
    if event.member_id is None or not await in_programme(
        session, event.merchant_id, event.member_id
    ):
        return
    at = now(session)
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    if account.enrolled_at is not None:
        return
    account.enrolled_at = at
    program = await program_of(session, event.merchant_id)
    if program.welcome_points:
        await award_points(
            session,
            program,
            event.merchant_id,
            event.member_id,
            program.welcome_points,
            reason="welcome",
            key=f"welcome:{event.member_id}",
            ref=event.order_id,
            now=at,
        )
    await evaluate_tier(session, account, at)
    await emit(
        session,
        MemberEnrolled(
            merchant_id=event.merchant_id,
            member_id=event.member_id,
            via="first_payment",
            tier=account.tier,
        ),
    )


async def on_order_completed(session: AsyncSession, event: CompletedOrder) -> None:
    """Earn on completion: points become spendable once the order is handed over. Members
    who have not joined the programme earn nothing."""
    if event.member_id is None or event.source == "import":
        return
    if not await in_programme(session, event.merchant_id, event.member_id):
        return
    at = now(session)
    order_id = event.order_id
    payable = event.payable
    program = await program_of(session, event.merchant_id)
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    tier = await current_tier(session, program, account)
    multiplier = tier.points_multiplier_percent if tier else 100
    points = payable * program.points_per_yuan * multiplier // 10_000
    entry = await award_points(
        session,
        program,
        event.merchant_id,
        event.member_id,
        points,
        reason="order_earn",
        key=f"order:{order_id}:earn",
        ref=order_id,
        now=at,
    )
    if entry is not None:  # first delivery: count the spend towards tiers
        account.growth += payable
        count_growth(session, account, "spend", payable, at)
        await evaluate_tier(session, account, at)


async def on_order_refunded(session: AsyncSession, event: RefundedOrder) -> None:
    if event.member_id is None:
        return
    at = now(session)
    order_id = event.order_id
    reversed_ = await ledger.take_back(
        session,
        event.merchant_id,
        event.member_id,
        earn_key=f"order:{order_id}:earn",
        key=f"order:{order_id}:earn-reversal",
        reason="refund_reversal",
        now=at,
    )
    if reversed_ is not None:  # the order had counted: its spend leaves the tier metrics
        account = await repo.lock_account(session, event.merchant_id, event.member_id)
        payable = event.payable
        account.growth = max(0, account.growth - payable)
        count_growth(session, account, "spend", -payable, at)
    await _give_back_order_points(session, event, "order_refunded")


# ---- identity -----------------------------------------------------------------------------


async def on_member_login(session: AsyncSession, event: MemberLogin) -> None:
    if event.member_id is None:
        return
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    day = date.fromisoformat(event.day)
    await count_login_day(session, account, day, now(session))


async def on_member_invited(session: AsyncSession, event: AboutMember) -> None:
    """A new member signed up with this member's referral code: it counts towards tiers."""
    if event.member_id is None:
        return
    at = now(session)
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    account.invites += 1
    count_growth(session, account, "invites", 1, at)
    await evaluate_tier(session, account, at)


async def on_member_birthday(session: AsyncSession, event: MemberBirthday) -> None:
    """Birthday gift for enrolled members: the tier's birthday points, then
    `member.birthday_gift` so promotions issues the tier's birthday coupons."""
    if event.member_id is None:
        return
    account = await repo.get_account(session, event.merchant_id, event.member_id)
    if account is None or account.enrolled_at is None:
        return
    at = now(session)
    year = event.year
    program = await program_of(session, event.merchant_id)
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    tier = await current_tier(session, program, account)
    if tier is not None and tier.birthday_points:
        await award_points(
            session,
            program,
            event.merchant_id,
            event.member_id,
            tier.birthday_points,
            reason="birthday",
            key=f"birthday:{event.member_id}:{year}",
            ref=str(year),
            now=at,
        )
    await emit(
        session,
        MemberBirthdayGift(
            merchant_id=event.merchant_id,
            member_id=event.member_id,
            year=year,
            tier=tier.name if tier else None,
        ),
    )
