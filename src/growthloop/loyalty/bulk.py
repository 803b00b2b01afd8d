"""Members' standing carried over from history in bulk (a shop moving onto growthloop, the
demo shop): thousands of members in a few statements, with the invariants the one-by-one
path keeps.

Each member's opening points go in as one batch with its ledger entry (reason `history`,
an idempotency key per member), so the balance equals the ledger's sum and the batches'
remainder; the tier is the one loyalty's own rules give the member's metrics. Growth
entries and login days are written as they happened, for the periodic tier review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.ids import new_id
from growthloop.core.sql import insert_chunked
from growthloop.loyalty.models import (
    GrowthEntry,
    LedgerEntry,
    LoginDay,
    MemberLoyalty,
    PointsBatch,
)
from growthloop.loyalty.program import points_expiry, program_of
from growthloop.loyalty.tiers import qualified_index


@dataclass(frozen=True)
class Standing:
    """One member's history: `spend` (fen) dated by completed order, the days they came,
    their invites, when they joined the programme (None: never), the points they hold."""

    member_id: str
    points: int = 0
    spend: Sequence[tuple[datetime, int]] = ()
    login_days: Sequence[date] = ()
    invites: int = 0
    enrolled_at: datetime | None = None


@dataclass
class Imported:
    members: int = 0
    points: int = 0
    tiers: dict[str, int] = field(default_factory=dict)


async def import_standings(
    session: AsyncSession, merchant_id: str, standings: Sequence[Standing], now: datetime
) -> Imported:
    """Write each member's account, opening points, growth and login days. History goes in
    once: a member who has an account already fails the insert (the account's primary key),
    and negative amounts are a ValueError, before anything is written."""
    program = await program_of(session, merchant_id)
    expires = await points_expiry(session, program, merchant_id, now)
    done = Imported()
    accounts, batches, entries, growth, days = [], [], [], [], []
    for s in standings:
        if s.points < 0 or s.invites < 0 or any(amount < 0 for _, amount in s.spend):
            raise ValueError(f"negative history for member {s.member_id}")
        spend = sum(amount for _, amount in s.spend)
        metrics = {"spend": spend, "login_days": len(set(s.login_days)), "invites": s.invites}
        index = qualified_index(program, metrics)
        tier = program.tiers[index].name if index is not None else None
        accounts.append(
            {
                "merchant_id": merchant_id,
                "member_id": s.member_id,
                "points": s.points,
                "growth": spend,
                "login_days": metrics["login_days"],
                "invites": s.invites,
                "tier": tier,
                "tier_since": now,
                "enrolled_at": s.enrolled_at,
                "checkin_streak": 0,
            }
        )
        if s.points:
            batch_id = new_id(now)
            batches.append(
                {
                    "id": batch_id,
                    "merchant_id": merchant_id,
                    "member_id": s.member_id,
                    "amount": s.points,
                    "remaining": s.points,
                    "expires_at": expires,
                    "created_at": now,
                }
            )
            entries.append(
                {
                    "id": new_id(now),
                    "merchant_id": merchant_id,
                    "member_id": s.member_id,
                    "delta": s.points,
                    "balance_after": s.points,
                    "reason": "history",
                    "ref": None,
                    "idempotency_key": f"history:{s.member_id}",
                    "batch_id": batch_id,
                    "allocations": {},
                    "expires_at": expires,
                    "created_at": now,
                }
            )
        growth += [
            {
                "id": new_id(at),
                "merchant_id": merchant_id,
                "member_id": s.member_id,
                "metric": "spend",
                "amount": amount,
                "at": at,
            }
            for at, amount in s.spend
        ]
        days += [
            {"merchant_id": merchant_id, "member_id": s.member_id, "day": d}
            for d in sorted(set(s.login_days))
        ]
        done.members += 1
        done.points += s.points
        if tier is not None:
            done.tiers[tier] = done.tiers.get(tier, 0) + 1
    # The primary key on (merchant_id, member_id) refuses a second import of a member.
    for model, rows in (
        (MemberLoyalty, accounts),
        (PointsBatch, batches),
        (LedgerEntry, entries),
        (GrowthEntry, growth),
        (LoginDay, days),
    ):
        await insert_chunked(session, model, rows)
    return done
