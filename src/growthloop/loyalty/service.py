"""Loyalty rules: the programme, tiers, check-in, and what orders earn and spend.

Orders call `quote_points`, `hold_points` and `tier_discount_percent` at checkout; the
rest reacts to order events in the same transaction (wired in growthloop.wiring):
paid -> 支付即会员 enrolment, completed -> earn + growth, cancelled -> points given
back, refunded -> earning reversed and spent points given back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance import service as consent
from growthloop.core.clock import Clock
from growthloop.core.context import context_of, merchant_timezone, merchant_today
from growthloop.core.db import Database
from growthloop.core.events import DomainEvent, NamedEvent, emit
from growthloop.core.pagination import PageParams, make_page
from growthloop.core.sql import insert_unless_exists
from growthloop.loyalty import ledger
from growthloop.loyalty import repository as repo
from growthloop.loyalty.errors import (
    AlreadyCheckedIn,
    MembershipConsentRequired,
    PointsCapExceeded,
    PointsNotWholeFen,
)
from growthloop.loyalty.models import GrowthEntry, LedgerEntry, LoginDay, MemberLoyalty, Program
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
    clock = context_of(session).clock
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
        points_expire_on=row.points_expire_on,
        downgrade_policy=row.downgrade_policy,
        review_days=row.review_days,
    )


async def set_program(session: AsyncSession, merchant_id: str, data: ProgramIn) -> ProgramIn:
    now = _clock(session).now()
    row = await repo.get_program(session, merchant_id)
    if row is None:
        row = Program(merchant_id=merchant_id)
        session.add(row)
    was_periodic = row.downgrade_policy == "periodic"
    row.points_per_yuan = data.points_per_yuan
    row.points_per_yuan_spent = data.points_per_yuan_spent
    row.max_points_percent = data.max_points_percent
    row.points_expire_days = data.points_expire_days
    row.welcome_points = data.welcome_points
    row.checkin_points = list(data.checkin_points)
    row.tiers = [t.model_dump() for t in data.tiers]
    row.points_expire_on = data.points_expire_on
    row.downgrade_policy = data.downgrade_policy
    row.review_days = data.review_days
    row.updated_at = now
    await session.flush()
    if data.downgrade_policy == "periodic" and not was_periodic:
        # Members already in a tier start their first review period now.
        await repo.start_review_periods(session, merchant_id, now)
    return data


# ---- tiers ---------------------------------------------------------------------------
#
# Downgrade policy "never": lifetime spend, login days and invites; a tier once reached is
# kept. "periodic": only the last `review_days` count; upgrades happen at once and start a
# new period; at the end of a period the tier is re-evaluated and may go down.

_ZERO = {"spend": 0, "login_days": 0, "invites": 0}


async def _metrics(
    session: AsyncSession, program: ProgramIn, account: MemberLoyalty | None, now: datetime
) -> dict[str, int]:
    if account is None:
        return dict(_ZERO)
    if program.downgrade_policy == "never" or program.review_days is None:
        return {
            "spend": account.growth,
            "login_days": account.login_days,
            "invites": account.invites,
        }
    since = now - timedelta(days=program.review_days)
    today = await merchant_today(session, account.merchant_id)
    return await repo.window_metrics(
        session,
        account.merchant_id,
        account.member_id,
        since=since,
        since_day=today - timedelta(days=program.review_days - 1),
    )


def _qualifies(tier: TierIn, metrics: dict[str, int]) -> bool:
    return not tier.thresholds or any(metrics[k] >= v for k, v in tier.thresholds.items())


def _qualified_index(program: ProgramIn, metrics: dict[str, int]) -> int | None:
    best = None
    for i, tier in enumerate(program.tiers):
        if _qualifies(tier, metrics):
            best = i
    return best


def _held_index(program: ProgramIn, account: MemberLoyalty | None) -> int | None:
    names = [t.name for t in program.tiers]
    stored = account.tier if account else None
    return names.index(stored) if stored in names else None


def _tier_index(
    program: ProgramIn, account: MemberLoyalty | None, metrics: dict[str, int]
) -> int | None:
    """The tier the member is in: what the metrics reach, never below the tier held (under
    both policies a tier is only lost at a periodic review)."""
    best, held = _qualified_index(program, metrics), _held_index(program, account)
    if held is None:
        return best
    return held if best is None else max(best, held)


async def _set_tier(
    session: AsyncSession,
    account: MemberLoyalty,
    program: ProgramIn,
    index: int | None,
    now: datetime,
) -> None:
    name = program.tiers[index].name if index is not None else None
    if name == account.tier:
        return
    before, held = account.tier, _held_index(program, account)
    account.tier, account.tier_since, account.tier_reviewed_at = name, now, now
    # Entering the base tier is where every member starts, not an upgrade (no upgrade gift).
    baseline = held if held is not None else 0
    if index is not None and index > baseline:
        direction = "up"
    elif held is None:
        direction = "initial"
    else:
        direction = "down"
    await emit(
        session,
        NamedEvent(
            "member.tier_changed",
            account.merchant_id,
            {"from": before, "to": name, "direction": direction},
            account.member_id,
        ),
    )


async def _evaluate_tier(session: AsyncSession, account: MemberLoyalty, now: datetime) -> None:
    program = await program_of(session, account.merchant_id)
    metrics = await _metrics(session, program, account, now)
    await _set_tier(session, account, program, _tier_index(program, account, metrics), now)


def _review_due_at(program: ProgramIn, account: MemberLoyalty | None) -> datetime | None:
    if program.review_days is None or account is None or account.tier_reviewed_at is None:
        return None
    return account.tier_reviewed_at + timedelta(days=program.review_days)


async def review_tier(session: AsyncSession, account: MemberLoyalty, now: datetime) -> None:
    """End of a review period: the tier becomes what the period's metrics reach (it may go
    down several tiers, or up), and the next period starts."""
    program = await program_of(session, account.merchant_id)
    if program.downgrade_policy != "periodic":
        return
    metrics = await _metrics(session, program, account, now)
    await _set_tier(session, account, program, _qualified_index(program, metrics), now)
    account.tier_reviewed_at = now


async def review_due_tiers(db: Database, clock: Clock, per_round: int = 500) -> int:
    """Sweep: re-evaluate every tier whose review period has ended. Busy accounts are
    skipped and picked up by the next run."""
    reviewed = 0
    async with db.unit_of_work(write=False) as uow:
        periodic = await repo.periodic_programs(uow.session)
    for merchant_id, review_days in periodic:
        while True:
            async with db.unit_of_work() as uow:
                now = clock.now()
                due = await repo.lock_accounts_due_for_review(
                    uow.session, merchant_id, now - timedelta(days=review_days), per_round
                )
                for account in due:
                    await review_tier(uow.session, account, now)
                reviewed += len(due)
            if len(due) < per_round:
                break
    return reviewed


async def _add_growth(
    session: AsyncSession, account: MemberLoyalty, metric: str, amount: int, now: datetime
) -> None:
    session.add(
        GrowthEntry(
            merchant_id=account.merchant_id,
            member_id=account.member_id,
            metric=metric,
            amount=amount,
            at=now,
        )
    )


async def membership(session: AsyncSession, merchant_id: str, member_id: str) -> MembershipOut:
    now = _clock(session).now()
    program = await program_of(session, merchant_id)
    account = await repo.get_account(session, merchant_id, member_id)
    metrics = await _metrics(session, program, account, now)
    index = _tier_index(program, account, metrics)
    tier = program.tiers[index] if index is not None else None
    next_tier = None
    nxt = program.tiers[(index + 1) if index is not None else 0 :]
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
                birthday_points=tier.birthday_points,
            )
            if tier
            else None
        ),
        login_days=metrics["login_days"],
        invites=metrics["invites"],
        checkin_streak=account.checkin_streak if account else 0,
        enrolled_at=account.enrolled_at if account else None,
        tier_review_at=_review_due_at(program, account),
    )


async def _current_tier(
    session: AsyncSession, program: ProgramIn, account: MemberLoyalty | None
) -> TierIn | None:
    metrics = await _metrics(session, program, account, _clock(session).now())
    index = _tier_index(program, account, metrics)
    return program.tiers[index] if index is not None else None


async def tier_discount_percent(session: AsyncSession, merchant_id: str, member_id: str) -> int:
    program = await program_of(session, merchant_id)
    account = await repo.get_account(session, merchant_id, member_id)
    tier = await _current_tier(session, program, account)
    return tier.discount_percent if tier else 0


# ---- ledger views ----------------------------------------------------------------------


async def ledger_page(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[LedgerEntry], str | None]:
    rows = await repo.ledger_page(session, merchant_id, member_id, page.limit, page.after_id)
    return make_page(rows, page)


# ---- check-in --------------------------------------------------------------------------


async def _in_programme(session: AsyncSession, merchant_id: str, member_id: str) -> bool:
    """Being in the programme (points, tiers, gifts) needs the member's consent on record
    (purpose "membership"); ordering and paying never do."""
    return await consent.has_consent(session, merchant_id, member_id, "membership")


async def check_in(session: AsyncSession, merchant_id: str, member_id: str) -> CheckinOut:
    now = _clock(session).now()
    if not await _in_programme(session, merchant_id, member_id):
        raise MembershipConsentRequired()
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
        expires_at=await _expiry(session, program, merchant_id, now),
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
            due = await repo.due_batches_for(s, locked, now)
            expired += await ledger.expire_due_in_bulk(s, by_pair, due, now)
        if len(pairs) < members_per_round or not locked:
            return expired


async def _expiry(
    session: AsyncSession, program: ProgramIn, merchant_id: str, now: datetime
) -> datetime | None:
    """When points earned now expire: N days later, or at the end of the programme's yearly
    date (merchant timezone) in the year after this one."""
    if program.points_expire_days:
        return now + timedelta(days=program.points_expire_days)
    if program.points_expire_on is None:
        return None
    tz = ZoneInfo(await merchant_timezone(session, merchant_id))
    month, day = (int(x) for x in program.points_expire_on.split("-"))
    last_day = date(now.astimezone(tz).year + 1, month, day)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return end.astimezone(now.tzinfo)


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
    """支付即会员: the first paid order of a member who agreed to join (consent "membership",
    given at any time before, e.g. the checkout's tick box) enrols them and grants the welcome
    gift. Without that consent, paying makes no one a member."""
    if event.member_id is None or not await _in_programme(
        session, event.merchant_id, event.member_id
    ):
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
            expires_at=await _expiry(session, program, event.merchant_id, now),
        )
    await _evaluate_tier(session, account, now)
    await emit(
        session,
        NamedEvent(
            "member.enrolled",
            event.merchant_id,
            {"via": "first_payment", "tier": account.tier},
            event.member_id,
        ),
    )


async def on_order_completed(session: AsyncSession, event: DomainEvent) -> None:
    """Earn on completion: points become spendable once the order is handed over. Members
    who have not joined the programme earn nothing."""
    if event.member_id is None or event.payload.get("source") == "import":
        return
    if not await _in_programme(session, event.merchant_id, event.member_id):
        return
    now = _clock(session).now()
    order_id = str(event.payload["order_id"])
    payable = int(event.payload["payable"])
    program = await program_of(session, event.merchant_id)
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    tier = await _current_tier(session, program, account)
    multiplier = tier.points_multiplier_percent if tier else 100
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
        expires_at=await _expiry(session, program, event.merchant_id, now),
    )
    if entry is not None:  # first delivery: count the spend towards tiers
        account.growth += payable
        await _add_growth(session, account, "spend", payable, now)
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
        payable = int(event.payload["payable"])
        account.growth = max(0, account.growth - payable)
        await _add_growth(session, account, "spend", -payable, now)
    await _give_back_order_points(session, event, "order_refunded")


# ---- invitations and birthdays ----------------------------------------------------------


async def on_member_invited(session: AsyncSession, event: DomainEvent) -> None:
    """A new member signed up with this member's referral code: it counts towards tiers."""
    if event.member_id is None:
        return
    now = _clock(session).now()
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    account.invites += 1
    await _add_growth(session, account, "invites", 1, now)
    await _evaluate_tier(session, account, now)


async def on_member_birthday(session: AsyncSession, event: DomainEvent) -> None:
    """Birthday gift for enrolled members: the tier's birthday points, then
    `member.birthday_gift` so promotions issues the tier's birthday coupons."""
    if event.member_id is None:
        return
    account = await repo.get_account(session, event.merchant_id, event.member_id)
    if account is None or account.enrolled_at is None:
        return
    now = _clock(session).now()
    year = int(event.payload["year"])
    program = await program_of(session, event.merchant_id)
    account = await repo.lock_account(session, event.merchant_id, event.member_id)
    tier = await _current_tier(session, program, account)
    if tier is not None and tier.birthday_points:
        await ledger.earn(
            session,
            event.merchant_id,
            event.member_id,
            tier.birthday_points,
            reason="birthday",
            key=f"birthday:{event.member_id}:{year}",
            ref=str(year),
            now=now,
            expires_at=await _expiry(session, program, event.merchant_id, now),
        )
    await emit(
        session,
        NamedEvent(
            "member.birthday_gift",
            event.merchant_id,
            {"year": year, "tier": tier.name if tier else None},
            event.member_id,
        ),
    )


# ---- spending outside orders (points mall, alliance exchange) ---------------------------


async def points_balance(session: AsyncSession, merchant_id: str, member_id: str) -> int:
    """The member's points as last written (due batches are expired on the next write)."""
    account = await repo.get_account(session, merchant_id, member_id)
    return account.points if account else 0


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
        expires_at=await _expiry(session, program, merchant_id, now),
    )


# ---- member lists ----------------------------------------------------------------------
#
# The operator's members list (growthloop.profiles) shows and filters by the tier loyalty
# holds for each member: re-evaluated at every paid or completed order, counted login day
# and invitation. A member who holds no tier of the programme (never enrolled, or holding a
# tier since removed) is in the tier every member starts in, if the programme has one.


@dataclass(frozen=True)
class Standing:
    tier: str | None
    points: int


@dataclass(frozen=True)
class TierMembers:
    """The members of one tier as a subquery of member ids: those in `ids`, or (`exclude`)
    those not in it."""

    ids: Select[str]
    exclude: bool


def _starting_tier(program: ProgramIn) -> str | None:
    index = _qualified_index(program, dict(_ZERO))
    return program.tiers[index].name if index is not None else None


async def standings(
    session: AsyncSession, merchant_id: str, member_ids: Sequence[str]
) -> dict[str, Standing]:
    program = await program_of(session, merchant_id)
    names, start = {t.name for t in program.tiers}, _starting_tier(program)
    accounts = await repo.accounts_of(session, merchant_id, member_ids)
    out = {}
    for member_id in member_ids:
        account = accounts.get(member_id)
        held = account.tier if account is not None and account.tier in names else None
        out[member_id] = Standing(held or start, account.points if account else 0)
    return out


async def tier_names(session: AsyncSession, merchant_id: str) -> list[str]:
    return [t.name for t in (await program_of(session, merchant_id)).tiers]


async def tier_members(session: AsyncSession, merchant_id: str, tier: str) -> TierMembers:
    """The members `standings` puts in `tier` (a tier of the programme)."""
    program = await program_of(session, merchant_id)
    if tier != _starting_tier(program):
        return TierMembers(repo.member_ids_holding(merchant_id, [tier]), exclude=False)
    others = [t.name for t in program.tiers if t.name != tier]
    return TierMembers(repo.member_ids_holding(merchant_id, others), exclude=True)
