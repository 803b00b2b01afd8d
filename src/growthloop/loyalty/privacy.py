"""Loyalty's part of the data export and of account deletion (注销).

Erased: the member's points are voided and their whole standing goes: the account
(`member_loyalty`: points, growth, tier, streak), every points batch, every ledger entry,
their login days and growth entries, all deleted together in the erasure's transaction.
The account and the ledger leave together, so every remaining member's balance still
equals the sum of their ledger, and the erased member has neither.

Kept: nothing. Points are a promise of the merchant to a member, not money paid; orders
and payments (kept elsewhere) hold what accounting needs, including the points deduction
of each order. Points sent to a partner through the alliance live in the partner's ledger.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    delete_by_member,
    iso,
    member_row,
    member_rows,
    of_member,
)
from growthloop.loyalty.models import GrowthEntry, LedgerEntry, LoginDay, MemberLoyalty, PointsBatch

_MEMBER_TABLES = (MemberLoyalty, PointsBatch, LedgerEntry, LoginDay, GrowthEntry)


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    account = await member_row(session, MemberLoyalty, merchant_id, member_id)
    ledger = await member_rows(
        session,
        LedgerEntry,
        merchant_id,
        member_id,
        "delta",
        "balance_after",
        "reason",
        "ref",
        "expires_at",
        "created_at",
        order_by=LedgerEntry.id,
    )
    batches = await member_rows(
        session,
        PointsBatch,
        merchant_id,
        member_id,
        "amount",
        "remaining",
        "expires_at",
        "created_at",
        order_by=PointsBatch.id,
    )
    growth = await member_rows(
        session,
        GrowthEntry,
        merchant_id,
        member_id,
        "metric",
        "amount",
        "at",
        order_by=(GrowthEntry.at, GrowthEntry.id),
    )
    days = await member_rows(
        session, LoginDay, merchant_id, member_id, "day", order_by=LoginDay.day
    )
    return {
        "membership": None
        if account is None
        else {
            "tier": account.tier,
            "tier_since": iso(account.tier_since),
            "points": account.points,
            "growth": account.growth,
            "login_days": account.login_days,
            "invites": account.invites,
            "enrolled_at": iso(account.enrolled_at),
            "checkin_streak": account.checkin_streak,
            "last_checkin_day": iso(account.last_checkin_day),
        },
        "ledger": ledger,
        "batches": batches,
        "growth": growth,
        "login_days": [x["day"] for x in days],
    }


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    balance = (
        await session.execute(select(MemberLoyalty.points).where(of_member(MemberLoyalty, m, who)))
    ).scalar_one_or_none()
    voided = {"points_voided": int(balance or 0)}
    return voided | await delete_by_member(session, m, who, *_MEMBER_TABLES)


HANDLER = PrivacyHandler(
    section="loyalty",
    tables=tuple(model.__tablename__ for model in _MEMBER_TABLES),
    export=export,
    erase=erase,
    keeps="nothing: the points are voided and the account, batches and ledger deleted together",
)
