from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.alliance.models import (
    DailyUsage,
    Exchange,
    MemberDailyUsage,
    Partnership,
    SettlementEntry,
)
from growthloop.core.sql import insert_unless_exists, take_counter

# ---- partnerships ----------------------------------------------------------------------


def _either_side(merchant_id: str) -> ColumnElement[bool]:
    return or_(
        Partnership.merchant_id == merchant_id, Partnership.partner_merchant_id == merchant_id
    )


async def get_partnership(session: AsyncSession, partnership_id: str) -> Partnership | None:
    return await session.get(Partnership, partnership_id)


async def insert_partnership(session: AsyncSession, values: dict[str, Any]) -> bool:
    """False when the pair already has an open partnership (the unique `open_pair`)."""
    return await insert_unless_exists(session, Partnership, values, ("open_pair",))


async def open_partnership_id(session: AsyncSession, open_pair: str) -> str | None:
    stmt = select(Partnership.id).where(Partnership.open_pair == open_pair)
    return (await session.execute(stmt)).scalar_one_or_none()


def partnerships(merchant_id: str, status: str | None) -> Select[Partnership]:
    """Both sides' partnerships (paged newest first by the caller)."""
    stmt = select(Partnership).where(_either_side(merchant_id))
    if status is not None:
        stmt = stmt.where(Partnership.status == status)
    return stmt


async def active_partnerships(session: AsyncSession, merchant_id: str) -> list[Partnership]:
    stmt = (
        select(Partnership)
        .where(_either_side(merchant_id), Partnership.status == "active")
        .order_by(Partnership.id)
    )
    return list((await session.execute(stmt)).scalars())


# ---- daily caps ------------------------------------------------------------------------

Counter = type[DailyUsage] | type[MemberDailyUsage]


def _where(model: Counter, key: dict[str, Any]) -> list[ColumnElement[bool]]:
    return [getattr(model, name) == value for name, value in key.items()]


async def take(
    session: AsyncSession, model: Counter, key: dict[str, Any], n: int, cap: int
) -> bool:
    """Add `n` points to the counter row `key` (inserted with them) unless that passes `cap`."""
    return await take_counter(session, model, key, n=n, cap=cap, column="points")


async def used(session: AsyncSession, model: Counter, key: dict[str, Any]) -> int:
    stmt = select(model.points).where(*_where(model, key))
    return int((await session.execute(stmt)).scalar_one_or_none() or 0)


# ---- exchanges and settlement ----------------------------------------------------------


def exchanges_of(merchant_id: str, member_id: str) -> ColumnElement[bool]:
    """The member's exchanges, sent and received."""
    return or_(
        and_(Exchange.merchant_id == merchant_id, Exchange.member_id == member_id),
        and_(Exchange.target_merchant_id == merchant_id, Exchange.target_member_id == member_id),
    )


def exchanges(merchant_id: str, member_id: str) -> Select[Exchange]:
    """The member's exchanges, sent and received (paged newest first by the caller)."""
    return select(Exchange).where(exchanges_of(merchant_id, member_id))


async def settlement_entries(
    session: AsyncSession, partnership_id: str, start: datetime, end: datetime
) -> list[SettlementEntry]:
    """Entries created in [start, end), oldest first."""
    stmt = (
        select(SettlementEntry)
        .where(
            SettlementEntry.partnership_id == partnership_id,
            SettlementEntry.created_at >= start,
            SettlementEntry.created_at < end,
        )
        .order_by(SettlementEntry.created_at, SettlementEntry.id)
    )
    return list((await session.execute(stmt)).scalars())
