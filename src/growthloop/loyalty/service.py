"""Loyalty, as the other domains and the routes use it: the programme, a member's standing,
and points spent or granted through the ledger.

Orders calls `quote_points`, `hold_points` and `tier_discount_percent` at checkout; the
points mall, the alliance and the campaigns spend and grant points here. The rules live by
job beside this module: `program` (settings, expiry), `tiers`, `checkin`, `ledger`, and
`handlers` (what orders and identity events do to points and tiers); `tasks` holds the sweeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Unpack

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import now
from growthloop.core.pagination import PageParams, fetch_page
from growthloop.loyalty import ledger
from growthloop.loyalty import repository as repo
from growthloop.loyalty.checkin import check_in
from growthloop.loyalty.errors import PointsCapExceeded, PointsNotWholeFen
from growthloop.loyalty.models import LedgerEntry
from growthloop.loyalty.program import DEFAULT_PROGRAM, award_points, program_of, set_program
from growthloop.loyalty.schemas import MembershipOut, NextTierOut, ProgramIn, TierBenefitsOut
from growthloop.loyalty.tiers import (
    current_tier,
    review_due_at,
    starting_tier,
    tier_index,
    tier_metrics,
)

__all__ = ["DEFAULT_PROGRAM", "ProgramIn", "check_in", "program_of", "set_program"]


# ---- the member's standing --------------------------------------------------------------


async def membership(session: AsyncSession, merchant_id: str, member_id: str) -> MembershipOut:
    program = await program_of(session, merchant_id)
    account = await repo.get_account(session, merchant_id, member_id)
    metrics = await tier_metrics(session, program, account, now(session))
    index = tier_index(program, account, metrics)
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
        tier_review_at=review_due_at(program, account),
    )


async def tier_discount_percent(session: AsyncSession, merchant_id: str, member_id: str) -> int:
    program = await program_of(session, merchant_id)
    if not any(t.discount_percent for t in program.tiers):
        return 0  # no tier gives a discount: the member's account is not read
    account = await repo.get_account(session, merchant_id, member_id)
    tier = await current_tier(session, program, account)
    return tier.discount_percent if tier else 0


async def ledger_page(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[LedgerEntry], str | None]:
    return await fetch_page(session, repo.ledger_of(merchant_id, member_id), LedgerEntry.id, page)


# ---- points on an order -------------------------------------------------------------------


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
    """Spend the order's points now; they come back if it is cancelled, expires or is refunded
    (handlers: the spend key is `order:<id>:spend`)."""
    await spend_points(
        session,
        merchant_id,
        member_id,
        points,
        reason="order_spend",
        key=f"order:{order_id}:spend",
        ref=order_id,
    )


# ---- points outside orders (points mall, alliance exchange, campaigns) --------------------


async def points_balance(session: AsyncSession, merchant_id: str, member_id: str) -> int:
    """The member's points as last written (due batches are expired on the next write)."""
    account = await repo.get_account(session, merchant_id, member_id)
    return account.points if account else 0


async def spend_points(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    points: int,
    **posting: Unpack[ledger.Posting],
) -> LedgerEntry:
    """Spend points. `key` makes it idempotent (merchant + source + operation, e.g.
    "mall:<redemption id>:spend"); raises 409 on too few points or a negative balance."""
    return await ledger.spend(session, merchant_id, member_id, points, now=now(session), **posting)


async def give_back_points(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    **back: Unpack[ledger.GiveBack],
) -> None:
    """Return what the spend recorded under `spend_key` took, to the same batches with their
    original expiry. Idempotent by `key`; a no-op if nothing was spent."""
    await ledger.give_back(session, merchant_id, member_id, now=now(session), **back)


async def grant_points(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    points: int,
    **posting: Unpack[ledger.Posting],
) -> LedgerEntry | None:
    """Credit points earned outside an order (alliance exchange, operator gift) as a new batch
    with the programme's expiry. Idempotent by `key`: returns None when already granted."""
    program = await program_of(session, merchant_id)
    return await award_points(
        session, program, merchant_id, member_id, points, now=now(session), **posting
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


async def standings(
    session: AsyncSession, merchant_id: str, member_ids: Sequence[str]
) -> dict[str, Standing]:
    program = await program_of(session, merchant_id)
    names, start = {t.name for t in program.tiers}, starting_tier(program)
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
    if tier != starting_tier(program):
        return TierMembers(repo.member_ids_holding(merchant_id, [tier]), exclude=False)
    others = [t.name for t in program.tiers if t.name != tier]
    return TierMembers(repo.member_ids_holding(merchant_id, others), exclude=True)
