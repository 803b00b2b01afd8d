"""Loyalty rules: the programme, tiers, check-in, and what orders earn and spend.

Orders call `quote_points`, `hold_points` and `tier_discount_percent` at checkout; the
rest reacts to order events in the same transaction (wired in growthloop.wiring):
paid -> 支付即会员 enrolment, completed -> earn + growth, cancelled -> points given
back, refunded -> earning reversed and spent points given back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.events import DomainEvent, emit
from growthloop.core.pagination import PageParams, make_page
from growthloop.core.sql import insert_unless_exists
from growthloop.core.tenancy import merchant_today
from growthloop.loyalty import ledger
from growthloop.loyalty import repository as repo
from growthloop.loyalty.errors import (
    AlreadyCheckedIn,
    PointsCapExceeded,
    PointsNotWholeFen,
)
from growthloop.loyalty.models import LedgerEntry, LoginDay, MemberLoyalty, Program
from growthloop.loyalty.schemas import (
    CheckinOut,
    MembershipOut,
    NextTierOut,
    ProgramIn,
    TierBenefitsOut,
    TierIn,
)

DEFAULT_PROGRAM = ProgramIn(points_per_yuan=1, tiers=[TierIn(name="普通会员")])

__all__ = ["DEFAULT_PROGRAM", "ProgramIn", "program_of"]


def _clock(session: AsyncSession) -> Clock:
    clock = session.info["clock"]
    assert isinstance(clock, Clock)
    return clock


async def program_of(session: AsyncSession, merchant_id: str) -> ProgramIn:
    row = await repo.get_program(session, merchant_id)
    if row is None:
        return DEFAULT_PROGRAM
    return ProgramIn(
        points_per_yuan=row.points_per_yuan,
        tiers=[TierIn.model_validate(t) for t in row.tiers],
        points_expire_days=row.points_expire_days,
        points_per_yuan_spent=row.points_per_yuan_spent,
        max_points_percent=row.max_points_percent,
        welcome_points=row.welcome_points,
        checkin_points=row.checkin_points,
    )


async def set_program(session: AsyncSession, merchant_id: str, data: ProgramIn) -> ProgramIn:
    now = _clock(session).now()
    row = await repo.get_program(session, merchant_id)
    if row is None:
        row = Program(merchant_id=merchant_id)
        session.add(row)
    row.points_per_yuan = data.points_per_yuan
    row.points_per_yuan_spent = data.points_per_yuan_spent
    row.max_points_percent = data.max_points_percent
    row.points_expire_days = data.points_expire_days
    row.welcome_points = data.welcome_points
    row.checkin_points = list(data.checkin_points)
    row.tiers = [t.model_dump() for t in data.tiers]
    row.updated_at = now
    await session.flush()
    return data


# ---- tiers ---------------------------------------------------------------------------


def _metrics(account: MemberLoyalty | None) -> dict[str, int]:
    if account is None:
        return {"spend": 0, "login_days": 0, "invites": 0}
    return {"spend": account.growth, "login_days": account.login_days, "invites": account.invites}


def _qualifies(tier: TierIn, metrics: dict[str, int]) -> bool:
    return not tier.thresholds or any(metrics[k] >= v for k, v in tier.thresholds.items())


def _tier_index(program: ProgramIn, account: MemberLoyalty | None) -> int | None:
    """The highest tier reached; tiers are never lost (downgrade policy: never)."""
    metrics = _metrics(account)
    best = None
    for i, tier in enumerate(program.tiers):
        if _qualifies(tier, metrics):
            best = i
    stored = account.tier if account else None
    names = [t.name for t in program.tiers]
    if stored in names:
        held = names.index(stored)
        best = held if best is None else max(best, held)
    return best


async def _evaluate_tier(session: AsyncSession, account: MemberLoyalty, now: datetime) -> None:
    program = await program_of(session, account.merchant_id)
    index = _tier_index(program, account)
    name = program.tiers[index].name if index is not None else None
    if name != account.tier:
        before = account.tier
        account.tier, account.tier_since = name, now
        await emit(
            session,
            DomainEvent(
                "member.tier_changed",
                account.merchant_id,
                {"from": before, "to": name},
                account.member_id,
            ),
        )


async def membership(session: AsyncSession, merchant_id: str, member_id: str) -> MembershipOut:
    program = await program_of(session, merchant_id)
    account = await repo.get_account(session, merchant_id, member_id)
    index = _tier_index(program, account)
    tier = program.tiers[index] if index is not None else None
    next_tier = None
    nxt = program.tiers[(index + 1) if index is not None else 0 :]
    metrics = _metrics(account)
    for candidate in nxt[:1]:
        missing = {k: max(0, v - metrics[k]) for k, v in candidate.thresholds.items()}
        next_tier = NextTierOut(name=candidate.name, missing=missing)
    return MembershipOut(
        tier=tier.name if tier else None,
        growth=metrics["spend"],
        points=account.points if account else 0,
        next_tier=next_tier,
        benefits=(
            TierBenefitsOut(
                discount_percent=tier.discount_percent,
                points_multiplier_percent=tier.points_multiplier_percent,
                free_delivery=tier.free_delivery,
            )
            if tier
            else None
        ),
        login_days=metrics["login_days"],
        invites=metrics["invites"],
        checkin_streak=account.checkin_streak if account else 0,
        enrolled_at=account.enrolled_at if account else None,
    )


async def tier_discount_percent(session: AsyncSession, merchant_id: str, member_id: str) -> int:
    program = await program_of(session, merchant_id)
    index = _tier_index(program, await repo.get_account(session, merchant_id, member_id))
    return program.tiers[index].discount_percent if index is not None else 0


# ---- ledger views ----------------------------------------------------------------------


async def ledger_page(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[LedgerEntry], str | None]:
    rows = await repo.ledger_page(session, merchant_id, member_id, page.limit, page.after_id)
    return make_page(rows, page)


# ---- check-in --------------------------------------------------------------------------


async def check_in(session: AsyncSession, merchant_id: str, member_id: str) -> CheckinOut:
    now = _clock(session).now()
    today = await merchant_today(session, merchant_id)
    program = await program_of(session, merchant_id)
    account = await repo.lock_account(session, merchant_id, member_id)
    if account.last_checkin_day == today:
        raise AlreadyCheckedIn(day=today.isoformat())
    streak = account.checkin_streak + 1 if account.last_checkin_day == today - timedelta(1) else 1
    if not await repo.checkin(session, account, today, streak):
        raise AlreadyCheckedIn(day=today.isoformat())
    account.last_checkin_day, account.checkin_streak = today, streak
    rewards = program.checkin_points or [0]
    points = rewards[(streak - 1) % len(rewards)]
    await ledger.earn(
        session,
        merchant_id,
        member_id,
        points,
        reason="checkin",
        key=f"checkin:{member_id}:{today.isoformat()}",
        ref=today.isoformat(),
        now=now,
        expires_at=_expiry(program, now),
    )
    await _count_login_day(session, account, today, now)
    return CheckinOut(streak=streak, points_awarded=points, day=today)


async def _count_login_day(
    session: AsyncSession, account: MemberLoyalty, day: date, now: datetime
) -> None:
    """Login days count towards tiers; check-in and login count the same day once."""
    if await insert_unless_exists(
        session,
        LoginDay,
        {"merchant_id": account.merchant_id, "member_id": account.member_id, "day": day},
        ("merchant_id", "member_id", "day"),
    ):
        account.login_days += 1
        await _evaluate_tier(session, account, now)


async def on_member_login(session: AsyncSession, event: DomainEvent) -> None:
    if event.member_id is None or "day" not in event.payload:
        return
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    day = date.fromisoformat(str(event.payload["day"]))
    await _count_login_day(session, account, day, _clock(session).now())


# ---- orders ----------------------------------------------------------------------------


async def expire_due_points(db: Database, clock: Clock, members_per_round: int = 500) -> int:
    """Sweep: write an expiry entry for every batch past its expiry. Accounts are locked
    before batches (the order spending uses) and busy ones are left for the next round,
    so the sweep never deadlocks with a request and several workers can run it."""
    expired = 0
    while True:
        async with db.unit_of_work() as uow:
            s, now = uow.session, clock.now()
            pairs = await repo.members_with_due_batches(s, now, members_per_round)
            accounts = await repo.lock_existing_accounts(s, pairs)
            locked = [(a.merchant_id, a.member_id) for a in accounts]
            by_pair = {(a.merchant_id, a.member_id): a for a in accounts}
            for batch in await repo.due_batches_for(s, locked, now):
                await ledger.expire_batch(
                    s, by_pair[(batch.merchant_id, batch.member_id)], batch, now
                )
                expired += 1
        if len(pairs) < members_per_round or not locked:
            return expired


def _expiry(program: ProgramIn, now: datetime) -> datetime | None:
    days = program.points_expire_days
    return now + timedelta(days=days) if days else None


@dataclass(frozen=True)
class PointsQuote:
    points: int
    deduction: int  # fen


async def quote_points(
    session: AsyncSession, merchant_id: str, points: int, payable_before_points: int
) -> PointsQuote:
    """What `points` are worth on this order, within the programme's cap (and leaving 1 fen)."""
    program = await program_of(session, merchant_id)
    value = points * 100
    if value % program.points_per_yuan_spent:
        raise PointsNotWholeFen(points=points, points_per_yuan=program.points_per_yuan_spent)
    deduction = value // program.points_per_yuan_spent
    cap = min(payable_before_points * program.max_points_percent // 100, payable_before_points - 1)
    if deduction > cap:
        raise PointsCapExceeded(
            deduction=deduction,
            max_deduction=max(cap, 0),
            max_points_percent=program.max_points_percent,
        )
    return PointsQuote(points=points, deduction=deduction)


async def hold_points(
    session: AsyncSession, merchant_id: str, member_id: str, order_id: str, points: int
) -> None:
    """Spend the order's points now; they come back if it is cancelled, expires or is refunded."""
    await ledger.spend(
        session,
        merchant_id,
        member_id,
        points,
        reason="order_spend",
        key=f"order:{order_id}:spend",
        ref=order_id,
        now=_clock(session).now(),
    )


async def _give_back_order_points(session: AsyncSession, event: DomainEvent, reason: str) -> None:
    order_id = str(event.payload["order_id"])
    assert event.member_id is not None
    await ledger.give_back(
        session,
        event.merchant_id,
        event.member_id,
        spend_key=f"order:{order_id}:spend",
        key=f"order:{order_id}:spend-return",
        reason=reason,
        now=_clock(session).now(),
    )


async def on_order_cancelled(session: AsyncSession, event: DomainEvent) -> None:
    if event.member_id:
        await _give_back_order_points(session, event, "order_cancelled")


async def on_order_paid(session: AsyncSession, event: DomainEvent) -> None:
    """支付即会员: the first paid order enrols the member and grants the welcome gift."""
    if event.member_id is None:
        return
    now = _clock(session).now()
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    if account.enrolled_at is not None:
        return
    account.enrolled_at = now
    program = await program_of(session, event.merchant_id)
    if program.welcome_points:
        await ledger.earn(
            session,
            event.merchant_id,
            event.member_id,
            program.welcome_points,
            reason="welcome",
            key=f"welcome:{event.member_id}",
            ref=str(event.payload["order_id"]),
            now=now,
            expires_at=_expiry(program, now),
        )
    await _evaluate_tier(session, account, now)
    await emit(
        session,
        DomainEvent(
            "member.enrolled", event.merchant_id, {"via": "first_payment"}, event.member_id
        ),
    )


async def on_order_completed(session: AsyncSession, event: DomainEvent) -> None:
    """Earn on completion: points become spendable once the order is handed over."""
    if event.member_id is None or event.payload.get("source") == "import":
        return
    now = _clock(session).now()
    order_id = str(event.payload["order_id"])
    payable = int(event.payload["payable"])
    program = await program_of(session, event.merchant_id)
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    index = _tier_index(program, account)
    multiplier = program.tiers[index].points_multiplier_percent if index is not None else 100
    points = payable * program.points_per_yuan * multiplier // 10_000
    entry = await ledger.earn(
        session,
        event.merchant_id,
        event.member_id,
        points,
        reason="order_earn",
        key=f"order:{order_id}:earn",
        ref=order_id,
        now=now,
        expires_at=_expiry(program, now),
    )
    if entry is not None:  # first delivery: count the spend towards tiers
        account.growth += payable
        await _evaluate_tier(session, account, now)


async def on_order_refunded(session: AsyncSession, event: DomainEvent) -> None:
    if event.member_id is None:
        return
    now = _clock(session).now()
    order_id = str(event.payload["order_id"])
    reversed_ = await ledger.take_back(
        session,
        event.merchant_id,
        event.member_id,
        earn_key=f"order:{order_id}:earn",
        key=f"order:{order_id}:earn-reversal",
        reason="refund_reversal",
        now=now,
    )
    if reversed_ is not None:  # the order had counted: its spend leaves the tier metrics
        account = await repo.lock_account(session, event.merchant_id, event.member_id)
        account.growth = max(0, account.growth - int(event.payload["payable"]))
    await _give_back_order_points(session, event, "order_refunded")


# ---- spending outside orders (points mall, alliance exchange) ---------------------------


async def spend_points(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    points: int,
    *,
    reason: str,
    key: str,
    ref: str | None,
) -> LedgerEntry:
    """Spend points for something other than an order. `key` makes it idempotent (merchant +
    source + operation, e.g. "mall:<redemption id>:spend"); raises 409 on too few points or a
    negative balance."""
    return await ledger.spend(
        session,
        merchant_id,
        member_id,
        points,
        reason=reason,
        key=key,
        ref=ref,
        now=_clock(session).now(),
    )


async def give_back_points(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    *,
    spend_key: str,
    key: str,
    reason: str,
) -> None:
    """Return what the spend recorded under `spend_key` took, to the same batches with their
    original expiry. Idempotent by `key`; a no-op if nothing was spent."""
    await ledger.give_back(
        session,
        merchant_id,
        member_id,
        spend_key=spend_key,
        key=key,
        reason=reason,
        now=_clock(session).now(),
    )


async def grant_points(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    points: int,
    *,
    reason: str,
    key: str,
    ref: str | None,
) -> LedgerEntry | None:
    """Credit points earned outside an order (alliance exchange, operator gift) as a new batch
    with the programme's expiry. Idempotent by `key`: returns None when already granted."""
    now = _clock(session).now()
    program = await program_of(session, merchant_id)
    return await ledger.earn(
        session,
        merchant_id,
        member_id,
        points,
        reason=reason,
        key=key,
        ref=ref,
        now=now,
        expires_at=_expiry(program, now),
    )
