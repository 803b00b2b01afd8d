"""Distribution rules (分销). Never commits.

- Binding: a member who logs in with a promoter's `referrer_code` (the code of
  `GET /v1/me/referral`) is bound to that promoter, new member or not, unless a binding
  that has not lapsed exists (the first binding wins for `binding_days`). No one is bound
  to themself, nor to a promoter whose own chain of promoters leads back to them.
- Commission, on payment: level 1 to the buyer's promoter, level 2 to that promoter's
  promoter, each `percent_of(payable, percent)` (half-up fen) of what the buyer actually
  paid after every discount and points; `frozen`. On completion the settlement date is
  set `settle_days` later; the sweep then `settles` it into the promoter's account. A
  refund cancels it (a settled one is taken back out of the account).
- Withdrawal: at least `min_withdrawal`, at most what is settled and not yet withdrawn
  (a guarded UPDATE, so concurrent requests never overdraw); an operator approves (paid
  out of band) or rejects (the amount becomes available again).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import windows
from growthloop.campaigns.distribution import repository as repo
from growthloop.campaigns.distribution.errors import (
    BelowMinimumWithdrawal,
    DistributionOff,
    InsufficientCommission,
    WithdrawalDecided,
    WithdrawalNotFound,
)
from growthloop.campaigns.distribution.models import (
    Commission,
    DistributionSettings,
    Withdrawal,
)
from growthloop.campaigns.distribution.schemas import (
    CommissionOut,
    DistributionIn,
    DistributionOut,
    PromoterStatsOut,
    ReferralOut,
    WithdrawalOut,
)
from growthloop.core import audit
from growthloop.core.auth import ensure_same_merchant
from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.events import DomainEvent, NamedEvent, emit
from growthloop.core.money import percent_of
from growthloop.core.pagination import PageParams, make_page
from growthloop.identity import service as identity

BOUND = "distribution.bound"
COMMISSION_FROZEN = "commission.frozen"
COMMISSION_SETTLED = "commission.settled"
COMMISSION_CANCELLED = "commission.cancelled"
MAX_CHAIN = 50  # how far up a promoter chain the cycle check looks


_now = windows.now_of


def settings_out(s: DistributionSettings) -> DistributionOut:
    return DistributionOut(
        enabled=s.enabled,
        level1_percent=s.level1_percent,
        level2_percent=s.level2_percent,
        settle_days=s.settle_days,
        binding_days=s.binding_days,
        min_withdrawal=s.min_withdrawal,
        updated_at=s.updated_at,
    )


async def put_settings(
    session: AsyncSession, merchant_id: str, admin_id: str, data: DistributionIn
) -> DistributionSettings:
    now = _now(session)
    s = await repo.settings_of(session, merchant_id)
    if s is None:
        s = DistributionSettings(merchant_id=merchant_id)
        session.add(s)
    s.enabled = data.enabled
    s.level1_percent = data.level1_percent
    s.level2_percent = data.level2_percent
    s.settle_days = data.settle_days
    s.binding_days = data.binding_days
    s.min_withdrawal = data.min_withdrawal
    s.updated_at = now
    await session.flush()
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action="distribution.settings",
        subject_type="merchant",
        subject_id=merchant_id,
        **data.model_dump(),
    )
    return s


async def get_settings(session: AsyncSession, merchant_id: str) -> DistributionOut:
    """The shop's settings; a shop that never set them up runs no programme (the defaults,
    off)."""
    s = await repo.settings_of(session, merchant_id)
    if s is None:
        d = DistributionIn(level1_percent=0, settle_days=7)
        return DistributionOut(**d.model_dump(exclude={"enabled"}), enabled=False, updated_at=None)
    return settings_out(s)


async def _enabled(session: AsyncSession, merchant_id: str) -> DistributionSettings | None:
    s = await repo.settings_of(session, merchant_id)
    return s if s is not None and s.enabled else None


# ---- binding (on login) ---------------------------------------------------------------


async def _leads_back(
    session: AsyncSession, merchant_id: str, promoter_id: str, member_id: str, now: datetime
) -> bool:
    """Whether `promoter_id`'s chain of promoters reaches `member_id` (a cycle)."""
    current: str | None = promoter_id
    for _ in range(MAX_CHAIN):
        current = await repo.promoter_of(session, merchant_id, current, now) if current else None
        if current is None:
            return False
        if current == member_id:
            return True
    return True  # a chain this long is refused rather than followed further


async def on_member_login(session: AsyncSession, event: DomainEvent) -> None:
    code = event.payload.get("referrer_code")
    member_id = event.member_id
    if not code or member_id is None:
        return
    s = await _enabled(session, event.merchant_id)
    if s is None:
        return
    promoter_id = await identity.member_for_referral_code(session, event.merchant_id, str(code))
    if promoter_id is None or promoter_id == member_id:
        return
    now = _now(session)
    if await _leads_back(session, event.merchant_id, promoter_id, member_id, now):
        return
    expires = now + timedelta(days=s.binding_days) if s.binding_days else None
    if await repo.bind(session, event.merchant_id, member_id, promoter_id, now, expires):
        await emit(
            session,
            NamedEvent(BOUND, event.merchant_id, {"promoter_id": promoter_id}, member_id),
        )


# ---- commissions (following orders) ---------------------------------------------------


async def on_order_paid(session: AsyncSession, event: DomainEvent) -> None:
    buyer = event.member_id
    if buyer is None:
        return
    s = await _enabled(session, event.merchant_id)
    if s is None:
        return
    now = _now(session)
    level1 = await repo.promoter_of(session, event.merchant_id, buyer, now)
    if level1 is None:
        return
    level2 = await repo.promoter_of(session, event.merchant_id, level1, now)
    paid = int(event.payload["payable"])
    for level, promoter, percent in ((1, level1, s.level1_percent), (2, level2, s.level2_percent)):
        if promoter is None or promoter == buyer or percent == 0:
            continue
        amount = percent_of(paid, percent)
        added = await repo.add_commission(
            session,
            {
                "merchant_id": event.merchant_id,
                "order_id": str(event.payload["order_id"]),
                "level": level,
                "promoter_id": promoter,
                "buyer_id": buyer,
                "base_amount": paid,
                "percent": percent,
                "amount": amount,
                "status": "frozen",
                "created_at": now,
            },
        )
        if added:
            payload = {"order_id": event.payload["order_id"], "level": level, "amount": amount}
            await emit(session, NamedEvent(COMMISSION_FROZEN, event.merchant_id, payload, promoter))


async def on_order_completed(session: AsyncSession, event: DomainEvent) -> None:
    s = await repo.settings_of(session, event.merchant_id)
    settle_days = s.settle_days if s is not None else 0
    await repo.schedule_settlement(
        session, str(event.payload["order_id"]), _now(session) + timedelta(days=settle_days)
    )


async def on_order_refunded(session: AsyncSession, event: DomainEvent) -> None:
    """A refund cancels the order's commissions, taking a settled one back out. (Orders
    are refunded whole; a partial refund would cancel the same share of each.)"""
    now = _now(session)
    for c in await repo.commissions_of_order(session, str(event.payload["order_id"])):
        was = c.status
        if was == "cancelled":
            continue
        if await repo.move_commission(session, c, was, "cancelled", cancelled_at=now):
            if was == "settled":
                await repo.add_settled(session, c.merchant_id, c.promoter_id, -c.amount)
            payload = {"order_id": c.order_id, "level": c.level, "amount": c.amount}
            await emit(
                session, NamedEvent(COMMISSION_CANCELLED, c.merchant_id, payload, c.promoter_id)
            )


async def settle_due_commissions(db: Database, clock: Clock, batch: int = 200) -> int:
    """Sweep: frozen commissions whose settlement date has come move into the promoters'
    accounts. Claimed with SKIP LOCKED and moved by guarded updates: safe with workers."""
    total = 0
    while True:
        async with db.unit_of_work() as uow:
            s = uow.session
            now = clock.now()
            due = await repo.due_to_settle(s, now, batch)
            for c in due:
                if await repo.move_commission(s, c, "frozen", "settled", settled_at=now):
                    await repo.add_settled(s, c.merchant_id, c.promoter_id, c.amount)
                    payload = {"order_id": c.order_id, "level": c.level, "amount": c.amount}
                    await emit(
                        s, NamedEvent(COMMISSION_SETTLED, c.merchant_id, payload, c.promoter_id)
                    )
        total += len(due)
        if len(due) < batch:
            return total


# ---- promoters (members) --------------------------------------------------------------


def commission_out(c: Commission) -> CommissionOut:
    return CommissionOut(
        id=c.id,
        order_id=c.order_id,
        level=c.level,
        amount=c.amount,
        base_amount=c.base_amount,
        percent=c.percent,
        status=c.status,
        created_at=c.created_at,
        settle_at=c.settle_at,
        settled_at=c.settled_at,
        cancelled_at=c.cancelled_at,
    )


async def my_commissions(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[Commission], str | None]:
    rows = await repo.list_commissions(
        session, merchant_id, member_id, limit=page.limit, before_id=page.after_id
    )
    return make_page(rows, page)


async def stats(session: AsyncSession, merchant_id: str, member_id: str) -> PromoterStatsOut:
    now = _now(session)
    referral = await identity.referral_of(session, merchant_id, member_id)
    team1, team2 = await repo.team_sizes(session, merchant_id, member_id, now)
    totals = await repo.totals_by_status(session, merchant_id, member_id)
    account = await repo.account_of(session, merchant_id, member_id)
    settled = account.settled if account else 0
    withdrawn = account.withdrawn if account else 0
    s = await repo.settings_of(session, merchant_id)
    return PromoterStatsOut(
        referrer_code=referral.referrer_code,
        bound_to_promoter=await repo.promoter_of(session, merchant_id, member_id, now) is not None,
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
    session: AsyncSession, db: Database, merchant_id: str, member_id: str
) -> ReferralOut:
    """`GET /v1/me/referral`: the member's code to share, and who referred them: the
    promoter whose binding earns the commissions on their orders (bound at sign-up or at
    any later login with a promoter's link), else their sign-up inviter (`invited_by`, kept
    visible either way)."""
    info = await identity.referral_of(session, merchant_id, member_id)
    code = info.referrer_code
    if code is None:
        # Members from before referral codes get theirs now. A GET runs in a read
        # transaction, so the code is written in a short transaction of its own.
        async with db.unit_of_work() as uow:
            code = await identity.ensure_referral_code(uow.session, member_id)
    binding = await repo.binding_of(session, merchant_id, member_id, _now(session))
    return ReferralOut(
        referrer_code=code,
        invited_count=info.invited_count,
        referred_by=binding.promoter_id if binding is not None else info.referred_by,
        invited_by=info.referred_by,
        bound_to_promoter=binding is not None,
        bound_at=binding.bound_at if binding is not None else None,
        binding_expires_at=binding.expires_at if binding is not None else None,
    )


def withdrawal_out(w: Withdrawal) -> WithdrawalOut:
    return WithdrawalOut(
        id=w.id,
        member_id=w.member_id,
        amount=w.amount,
        status=w.status,
        created_at=w.created_at,
        decided_at=w.decided_at,
        note=w.note,
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
        created_at=_now(session),
    )
    session.add(w)
    await session.flush()
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="member",
        actor_id=member_id,
        action="commission.withdrawal.request",
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
    rows = await repo.list_withdrawals(
        session,
        merchant_id,
        member_id=member_id,
        status=status,
        limit=page.limit,
        before_id=page.after_id,
    )
    return make_page(rows, page)


async def decide(
    session: AsyncSession,
    merchant_id: str,
    admin_id: str,
    withdrawal_id: str,
    *,
    approve: bool,
    note: str | None,
) -> Withdrawal:
    w = await repo.get_withdrawal(session, withdrawal_id)
    if w is None:
        raise WithdrawalNotFound(withdrawal_id=withdrawal_id)
    ensure_same_merchant(w.merchant_id, merchant_id)
    now = _now(session)
    after = "approved" if approve else "rejected"
    if not await repo.decide_withdrawal(
        session, w, after, decided_at=now, decided_by=admin_id, note=note
    ):
        raise WithdrawalDecided(status=w.status)
    if not approve:
        await repo.give_back_withdrawal(session, merchant_id, w.member_id, w.amount)
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action=f"commission.withdrawal.{after}",
        subject_type="withdrawal",
        subject_id=w.id,
        member_id=w.member_id,
        amount=w.amount,
    )
    return w
