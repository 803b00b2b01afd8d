from __future__ import annotations

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance.models import ConsentRecord, ConsentState
from growthloop.core.sql import guarded, insert_unless_exists


async def state_of(
    session: AsyncSession, merchant_id: str, member_id: str, purpose: str
) -> ConsentState | None:
    return await session.get(ConsentState, (merchant_id, member_id, purpose))


async def states_of(session: AsyncSession, merchant_id: str, member_id: str) -> list[ConsentState]:
    stmt = select(ConsentState).where(
        ConsentState.merchant_id == merchant_id, ConsentState.member_id == member_id
    )
    return list((await session.execute(stmt)).scalars())


async def change_state(session: AsyncSession, record: ConsentRecord) -> bool:
    """Sets the member's decision on the record's purpose to the record's; True only if it
    differs from the current one (first decision included). Concurrent identical decisions
    change it once."""
    values = {
        "granted": record.granted,
        "policy_version": record.policy_version,
        "platform": record.platform,
        "record_id": record.id,
        "updated_at": record.created_at,
    }
    key = {
        "merchant_id": record.merchant_id,
        "member_id": record.member_id,
        "purpose": record.purpose,
    }
    if await insert_unless_exists(session, ConsentState, key | values, tuple(key)):
        return True
    stmt = (
        update(ConsentState)
        .where(
            ConsentState.merchant_id == record.merchant_id,
            ConsentState.member_id == record.member_id,
            ConsentState.purpose == record.purpose,
            ConsentState.granted != record.granted,
        )
        .values(**values)
    )
    return await guarded(session, stmt)


def append(session: AsyncSession, record: ConsentRecord) -> None:
    session.add(record)


def ledger_of(merchant_id: str, member_id: str) -> Select[ConsentRecord]:
    """The member's ledger rows (the caller orders and pages them)."""
    return select(ConsentRecord).where(
        ConsentRecord.merchant_id == merchant_id, ConsentRecord.member_id == member_id
    )


async def decisions_of(
    session: AsyncSession, merchant_id: str, member_ids: list[str], purposes: list[str]
) -> dict[tuple[str, str], bool]:
    """(member, purpose) -> granted, for the decisions the members made."""
    found: dict[tuple[str, str], bool] = {}
    for start in range(0, len(member_ids), 500):
        stmt = select(ConsentState.member_id, ConsentState.purpose, ConsentState.granted).where(
            ConsentState.merchant_id == merchant_id,
            ConsentState.member_id.in_(member_ids[start : start + 500]),
            ConsentState.purpose.in_(purposes),
        )
        for member_id, purpose, granted in await session.execute(stmt):
            found[(member_id, purpose)] = granted
    return found
