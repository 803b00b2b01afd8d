"""Distribution rules (分销). Never commits.

- Binding: a member who logs in with a promoter's `referrer_code` (the code of
  `GET /v1/me/referral`) is bound to that promoter, new member or not, unless a binding
  that has not lapsed exists (the first binding wins for `binding_days`). No one is bound
  to themself, nor to a promoter whose own chain of promoters leads back to them.
- Commission, on payment: level 1 to the buyer's promoter, level 2 to that promoter's
  promoter, each `percent_of(payable, percent)` (half-up fen) of what the buyer actually
  paid after every discount and points; `frozen`. On completion the settlement date is
  set `settle_days` later; the sweep (tasks.py) then `settles` it into the promoter's
  account. A refund cancels it (a settled one is taken back out of the account).
- Withdrawal: at least `min_withdrawal`, at most what is settled and not yet withdrawn
  (a guarded UPDATE, so concurrent requests never overdraw); an operator approves (paid
  out of band) or rejects (the amount becomes available again).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.distribution import repository as repo
from growthloop.campaigns.distribution.errors import (
    BelowMinimumWithdrawal,
    DistributionOff,
    InsufficientCommission,
    WithdrawalDecided,
    WithdrawalNotFound,
)
from growthloop.campaigns.distribution.events import (
    CommissionCancelled,
    CommissionEvent,
    CommissionFrozen,
    CommissionSettled,
    DistributionBound,
)
from growthloop.campaigns.distribution.models import Commission, DistributionSettings, Withdrawal
from growthloop.campaigns.distribution.schemas import DistributionIn, PromoterStatsOut, ReferralOut
from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.context import now
from growthloop.core.events import emit
from growthloop.core.money import percent_of
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import PageParams
from growthloop.core.settings_cache import cached_setting
from growthloop.identity import service as identity
from growthloop.identity.events import MemberLogin
from growthloop.orders.events import OrderCompleted, OrderPaid, OrderRefunded

MAX_CHAIN = 50  # how far up a promoter chain the cycle check looks


async def put_settings(
    session: AsyncSession, merchant_id: str, admin_id: str, data: DistributionIn
) -> DistributionSettings:
    s = await repo.settings_of(session, merchant_id)
    if s is None:
        s = DistributionSettings(merchant_id=merchant_id)
        session.add(s)
    values = data.model_dump()
    for field, value in values.items():
        setattr(s, field, value)
    s.updated_at = now(session)
    await session.flush()
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        Action.DISTRIBUTION_SETTINGS,
        subject_type="merchant",
        subject_id=merchant_id,
        **values,
    )
    return s


async def settings_of(session: AsyncSession, merchant_id: str) -> DistributionSettings | None:
    """The shop's settings; None while it never set them up (it runs no programme)."""
    return await repo.settings_of(session, merchant_id)


async def _enabled(session: AsyncSession, merchant_id: str) -> DistributionSettings | None:
    s = await repo.settings_of(session, merchant_id)
    return s if s is not None and s.enabled else None


async def _on(session: AsyncSession, merchant_id: str) -> bool:
    return await _enabled(session, merchant_id) is not None


async def _commission_event(
    session: AsyncSession, kind: type[CommissionEvent], c: Commission
) -> None:
    await emit(
        session,
        kind(
            merchant_id=c.merchant_id,
            member_id=c.promoter_id,
            order_id=c.order_id,
            level=c.level,
            amount=c.amount,
        ),
    )


# ---- binding (on login) ---------------------------------------------------------------


async def _leads_back(
    session: AsyncSession, merchant_id: str, promoter_id: str, member_id: str, at: datetime
) -> bool:
    """Whether `promoter_id`'s chain of promoters reaches `member_id` (a cycle)."""
    current: str | None = promoter_id
    for _ in range(MAX_CHAIN):
        current = await repo.promoter_of(session, merchant_id, current, at) if current else None
        if current is None:
            return False
        if current == member_id:
            return True
    return True  # a chain this long is refused rather than followed further


async def on_member_login(session: AsyncSession, event: MemberLogin) -> None:
    code, member_id, merchant_id = event.referrer_code, event.member_id, event.merchant_id
    if not code:
        return
    s = await _enabled(session, merchant_id)
    if s is None:
        return
    promoter_id = await identity.member_for_referral_code(session, merchant_id, code)
    if promoter_id is None or promoter_id == member_id:
        return
    at = now(session)
    if await _leads_back(session, merchant_id, promoter_id, member_id, at):
        return
    expires = at + timedelta(days=s.binding_days) if s.binding_days else None
    if await repo.bind(session, merchant_id, member_id, promoter_id, at, expires):
        await emit(
            session,
            DistributionBound(
                merchant_id=merchant_id, member_id=member_id, promoter_id=promoter_id
            ),
        )


# ---- commissions (following orders) ---------------------------------------------------


async def on_order_paid(session: AsyncSession, event: OrderPaid) -> None:
    buyer, merchant_id = event.member_id, event.merchant_id
    if buyer is None:
        return
    # Paid orders of a merchant without distribution (most) skip the settings' query.
    if not await cached_setting(
        session, merchant_id, "distribution.on", partial(_on, session, merchant_id)
    ):
        return
    s = await _enabled(session, merchant_id)
    if s is None:
        return
    at = now(session)
    level1 = await repo.promoter_of(session, merchant_id, buyer, at)
    if level1 is None:
        return
    level2 = await repo.promoter_of(session, merchant_id, level1, at)
    paid = event.payable
    for level, promoter, percent in ((1, level1, s.level1_percent), (2, level2, s.level2_percent)):
        if promoter is None or promoter == buyer or percent == 0:
            continue
        amount = percent_of(paid, percent)
        added = await repo.add_commission(
            session,
            {
                "merchant_id": merchant_id,
                "order_id": event.order_id,
                "level": level,
                "promoter_id": promoter,
                "buyer_id": buyer,
                "base_amount": paid,
                "percent": percent,
                "amount": amount,
                "status": "frozen",
                "created_at": at,
            },
        )
        if added:
            frozen = CommissionFrozen(
                merchant_id=merchant_id,
                member_id=promoter,
                order_id=event.order_id,
                level=level,
                amount=amount,
            )
            await emit(session, frozen)


async def on_order_completed(session: AsyncSession, event: OrderCompleted) -> None:
    s = await repo.settings_of(session, event.merchant_id)
    settle_days = s.settle_days if s is not None else 0
    await repo.schedule_settlement(
        session, event.order_id, now(session) + timedelta(days=settle_days)
    )


async def on_order_refunded(session: AsyncSession, event: OrderRefunded) -> None:
    """A refund cancels the order's commissions, taking a settled one back out. (Orders
    are refunded whole; a partial refund would cancel the same share of each.)"""
    at = now(session)
    for c in await repo.commissions_of_order(session, event.order_id):
        was = c.status
        if was == "cancelled":
            continue
        if await repo.move_commission(session, c, was, "cancelled", cancelled_at=at):
            if was == "settled":
                await repo.add_settled(session, c.merchant_id, c.promoter_id, -c.amount)
            await _commission_event(session, CommissionCancelled, c)


async def settle_due(session: AsyncSession, batch: int) -> int:
    """Up to `batch` frozen commissions whose settlement date has come move into the
    promoters' accounts; how many were due. Claimed with SKIP LOCKED and moved by guarded
    updates: safe with several workers (the sweep in tasks.py calls it until none is left)."""
    at = now(session)
    due = await repo.due_to_settle(session, at, batch)
    for c in due:
        if await repo.move_commission(session, c, "frozen", "settled", settled_at=at):
            await repo.add_settled(session, c.merchant_id, c.promoter_id, c.amount)
            await _commission_event(session, CommissionSettled, c)
    return len(due)


# ---- promoters (members) --------------------------------------------------------------


async def my_commissions(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[Commission], str | None]:
    return await repo.list_commissions(session, merchant_id, member_id, page)


async def stats(session: AsyncSession, merchant_id: str, member_id: str) -> PromoterStatsOut:
    at = now(session)
    referral = await identity.referral_of(session, merchant_id, member_id)
    team1, team2 = await repo.team_sizes(session, merchant_id, member_id, at)
    totals = await repo.totals_by_status(session, merchant_id, member_id)
    account = await repo.account_of(session, merchant_id, member_id)
    settled = account.settled if account else 0
    withdrawn = account.withdrawn if account else 0
    s = await repo.settings_of(session, merchant_id)
    return PromoterStatsOut(
        referrer_code=referral.referrer_code,
        bound_to_promoter=await repo.promoter_of(session, merchant_id, member_id, at) is not None,
        team_level1=team1,
        team_level2=team2,
        frozen=totals.get("frozen", 0),
        settled=totals.get("settled", 0),
        cancelled=totals.get("cancelled", 0),
        withdrawn=withdrawn,
        available=max(settled - withdrawn, 0),
        min_withdrawal=s.min_withdrawal if s else None,
    )


async def referral(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    give_code: Callable[[str], Awaitable[str]],
) -> ReferralOut:
    """`GET /v1/me/referral`: the member's code to share, and who referred them: the
    promoter whose binding earns the commissions on their orders (bound at sign-up or at
    any later login with a promoter's link), else their sign-up inviter (`invited_by`, kept
    visible either way). A member from before referral codes gets theirs now, from
    `give_code(member_id)` (a GET runs in a read transaction: tasks.give_referral_code
    writes it in a short transaction of its own)."""
    info = await identity.referral_of(session, merchant_id, member_id)
    code = info.referrer_code
    if code is None:
        code = await give_code(member_id)
    binding = await repo.binding_of(session, merchant_id, member_id, now(session))
    return ReferralOut(
        referrer_code=code,
        invited_count=info.invited_count,
        referred_by=binding.promoter_id if binding is not None else info.referred_by,
        invited_by=info.referred_by,
        bound_to_promoter=binding is not None,
        bound_at=binding.bound_at if binding is not None else None,
        binding_expires_at=binding.expires_at if binding is not None else None,
    )


async def request_withdrawal(
    session: AsyncSession, merchant_id: str, member_id: str, amount: int
) -> Withdrawal:
    s = await _enabled(session, merchant_id)
    if s is None:
        raise DistributionOff()
    if amount < s.min_withdrawal:
        raise BelowMinimumWithdrawal(min_withdrawal=s.min_withdrawal, amount=amount)
    if not await repo.take_withdrawal(session, merchant_id, member_id, amount):
        account = await repo.account_of(session, merchant_id, member_id)
        available = max(account.settled - account.withdrawn, 0) if account else 0
        raise InsufficientCommission(available=available, amount=amount)
    w = Withdrawal(
        merchant_id=merchant_id,
        member_id=member_id,
        amount=amount,
        status="requested",
        created_at=now(session),
    )
    session.add(w)
    await session.flush()
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="member",
        actor_id=member_id,
        action=Action.COMMISSION_WITHDRAWAL_REQUEST,
        subject_type="withdrawal",
        subject_id=w.id,
        member_id=member_id,
        amount=amount,
    )
    return w


async def list_withdrawals(
    session: AsyncSession,
    merchant_id: str,
    page: PageParams,
    *,
    member_id: str | None = None,
    status: str | None = None,
) -> tuple[list[Withdrawal], str | None]:
    return await repo.list_withdrawals(
        session, merchant_id, page, member_id=member_id, status=status
    )


async def decide(
    session: AsyncSession,
    merchant_id: str,
    admin_id: str,
    withdrawal_id: str,
    *,
    approve: bool,
    note: str | None,
) -> Withdrawal:
    w = await get_owned(
        session,
        Withdrawal,
        withdrawal_id,
        merchant_id,
        WithdrawalNotFound(withdrawal_id=withdrawal_id),
    )
    after = "approved" if approve else "rejected"
    if not await repo.decide_withdrawal(
        session, w, after, decided_at=now(session), decided_by=admin_id, note=note
    ):
        raise WithdrawalDecided(status=w.status)
    if not approve:
        await repo.give_back_withdrawal(session, merchant_id, w.member_id, w.amount)
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        Action.COMMISSION_WITHDRAWAL_APPROVED if approve else Action.COMMISSION_WITHDRAWAL_REJECTED,
        subject_type="withdrawal",
        subject_id=w.id,
        member_id=w.member_id,
        amount=w.amount,
    )
    return w
