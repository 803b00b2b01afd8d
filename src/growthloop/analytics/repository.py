"""Every query of the analytics tables in the business database."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.analytics.models import AlertRecord, AlertRule, AnalyticsIdentity, AnalyticsOutbox
from growthloop.core.pagination import PageParams, fetch_page
from growthloop.core.sql import insert_unless_exists, sweep_batch, table_of, updated


async def identities_of(
    session: AsyncSession, merchant_id: str, distinct_ids: Iterable[str]
) -> dict[str, tuple[str, str | None]]:
    ids = list(set(distinct_ids))
    found: dict[str, tuple[str, str | None]] = {}
    for start in range(0, len(ids), 500):
        stmt = select(
            AnalyticsIdentity.distinct_id, AnalyticsIdentity.person_id, AnalyticsIdentity.member_id
        ).where(
            AnalyticsIdentity.merchant_id == merchant_id,
            AnalyticsIdentity.distinct_id.in_(ids[start : start + 500]),
        )
        for distinct_id, person_id, member_id in await session.execute(stmt):
            found[distinct_id] = (person_id, member_id)
    return found


async def add_identity(
    session: AsyncSession,
    *,
    merchant_id: str,
    distinct_id: str,
    person_id: str,
    member_id: str | None,
    source: str,
    now: datetime,
) -> bool:
    return await insert_unless_exists(
        session,
        AnalyticsIdentity,
        {
            "merchant_id": merchant_id,
            "distinct_id": distinct_id,
            "person_id": person_id,
            "member_id": member_id,
            "source": source,
            "created_at": now,
        },
        ["merchant_id", "distinct_id"],
    )


async def repoint_person(
    session: AsyncSession, merchant_id: str, old_person: str, member_id: str
) -> list[str]:
    """Ids that stood for the non-member person `old_person` now stand for the member."""
    stmt = (
        update(AnalyticsIdentity)
        .where(
            AnalyticsIdentity.merchant_id == merchant_id,
            AnalyticsIdentity.person_id == old_person,
            AnalyticsIdentity.member_id.is_(None),
        )
        .values(person_id=member_id, member_id=member_id)
        .returning(AnalyticsIdentity.distinct_id)
    )
    return [row[0] for row in await session.execute(stmt)]


async def distinct_ids_of_member(
    session: AsyncSession, merchant_id: str, member_id: str
) -> list[str]:
    stmt = select(AnalyticsIdentity.distinct_id).where(
        AnalyticsIdentity.merchant_id == merchant_id, AnalyticsIdentity.member_id == member_id
    )
    return list((await session.scalars(stmt)).all())


# An outbox row's platform when the event is about a member: the member's end (the platform
# they last arrived from), read by the flush for its whole batch at once rather than by every
# order and payment. Parentheses: no platform is spelled so.
MEMBER_END = "(member)"


_ADD_OUTBOX = insert(table_of(AnalyticsOutbox))


async def add_outbox(session: AsyncSession, **values: Any) -> None:
    """One business event into the outbox, at once (a Core insert: through the ORM's flush,
    each paid order spent more on its two outbox rows than on the order)."""
    await session.execute(_ADD_OUTBOX, values)


async def platform_hints(
    session: AsyncSession, members: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(merchant, member) -> the end the member last arrived from, for those with one."""
    pairs = list(set(members))
    found: dict[tuple[str, str], str] = {}
    ai = AnalyticsIdentity
    for start in range(0, len(pairs), 500):
        stmt = select(ai.merchant_id, ai.distinct_id, ai.platform_hint).where(
            tuple_(ai.merchant_id, ai.distinct_id).in_(pairs[start : start + 500]),
            ai.source == "member",
            ai.platform_hint.is_not(None),
        )
        for merchant_id, member_id, hint in await session.execute(stmt):
            if hint is not None:
                found[merchant_id, member_id] = hint
    return found


async def in_flight_outbox(session: AsyncSession, limit: int) -> list[AnalyticsOutbox]:
    """The rows of one batch a flush marked but did not finish."""
    key = (
        await session.execute(
            select(AnalyticsOutbox.batch_key)
            .where(AnalyticsOutbox.batch_key.is_not(None))
            .order_by(AnalyticsOutbox.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if key is None:
        return []
    stmt = (
        select(AnalyticsOutbox)
        .where(AnalyticsOutbox.batch_key == key)
        .order_by(AnalyticsOutbox.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def mark_outbox(session: AsyncSession, ids: list[str], key: str) -> None:
    # The batch's loaded rows are not updated in memory (the flush reads them no more):
    # matching each of thousands against the criteria cost more than the statement.
    for start in range(0, len(ids), 500):
        await updated(
            session,
            update(AnalyticsOutbox)
            .where(AnalyticsOutbox.id.in_(ids[start : start + 500]))
            .values(batch_key=key),
        )


async def delete_outbox_batch(session: AsyncSession, key: str) -> None:
    await session.execute(
        delete(AnalyticsOutbox).where(AnalyticsOutbox.batch_key == key),
        execution_options={"synchronize_session": False},
    )


async def pending_outbox(session: AsyncSession, limit: int) -> list[AnalyticsOutbox]:
    stmt = select(AnalyticsOutbox).where(AnalyticsOutbox.batch_key.is_(None))
    return list((await session.scalars(sweep_batch(stmt, AnalyticsOutbox.id, limit))).all())


async def rules_of(session: AsyncSession, merchant_id: str | None = None) -> list[AlertRule]:
    stmt = select(AlertRule).order_by(AlertRule.id)
    if merchant_id is None:
        stmt = stmt.where(AlertRule.enabled.is_(True))
    else:
        stmt = stmt.where(AlertRule.merchant_id == merchant_id)
    return list((await session.scalars(stmt)).all())


async def get_rule(session: AsyncSession, rule_id: str) -> AlertRule | None:
    return await session.get(AlertRule, rule_id)


async def alerts_page(
    session: AsyncSession, merchant_id: str, page: PageParams
) -> tuple[list[AlertRecord], str | None]:
    stmt = select(AlertRecord).where(AlertRecord.merchant_id == merchant_id)
    return await fetch_page(session, stmt, AlertRecord.id, page)


async def due_webhooks(session: AsyncSession, now: datetime, limit: int) -> list[AlertRecord]:
    stmt = select(AlertRecord).where(
        AlertRecord.webhook_status == "pending", AlertRecord.next_attempt_at <= now
    )
    due = sweep_batch(stmt, AlertRecord.next_attempt_at, limit)
    return list((await session.scalars(due)).all())
