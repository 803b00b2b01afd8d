"""Analytics' part of the data export and of account deletion (注销).

In the database (`HANDLER`, in the erasure's transaction):
- erased: every identity row of the person (`analytics_identities`: the member id, their
  platform ids and the devices an identify call linked to them, found by member or by
  person), after their distinct ids went into `erasure.identifiers` with the member id;
  the member's business events still waiting in the outbox are deleted (the simplest way
  to leave none behind: the flush runs after every commit, so at most the last seconds'
  events of the member miss the dashboard), and the member's ids are removed from other
  waiting events' properties (a sharer id in a visitor's `share.opened`);
- kept: nothing.

In the event store (`erase_events`, registered as the `events` store, before the commit):
the person's events lose the person and stay for the aggregate figures: their distinct id
becomes a pseudonym, random per erasure ("erased-<16 hex>", so they still count as one
anonymous visitor but lead back to no one), member id, properties and share code go, and
event, time, platform, page, channel and amount stay; the hourly aggregates are re-keyed
the same way and the identity links deleted (`EventStore.erase`).

The export: the person's distinct ids, their events in the store (up to 50,000, oldest
first) and their business events not flushed yet.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.analytics.backends.base import EventStore
from growthloop.analytics.models import AnalyticsIdentity, AnalyticsOutbox
from growthloop.analytics.pipeline import Pipeline, pipeline_of
from growthloop.analytics.repository import MEMBER_END
from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    delete_by_member,
    execute_bulk,
    member_rows,
    rows,
)

EXPORT_LIMIT = 50_000
ERASED_VALUE = "erased"  # what a waiting event's property naming the person becomes
CHUNK = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _properties(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def pseudonym() -> str:
    """The anonymous distinct id an erased person's events are kept under."""
    return "erased-" + secrets.token_hex(8)


def _identities_of(merchant_id: str, member_id: str) -> ColumnElement[bool]:
    """The person's identity rows: the member's own, and those linked to them."""
    ai = AnalyticsIdentity
    return and_(
        ai.merchant_id == merchant_id, or_(ai.member_id == member_id, ai.person_id == member_id)
    )


# ---- the export ------------------------------------------------------------------------


async def _stored_events(store: EventStore, merchant_id: str, member_id: str) -> list[Any]:
    d = store.dialect
    # The member id goes in as the dialect's escaped literal (the stores take no parameters).
    columns = f"event, {d.epoch_us('time')} AS us, platform, page, channel, amount, properties"
    where = f"mem = {d.lit(member_id)} ORDER BY time LIMIT {EXPORT_LIMIT}"
    sql = f"SELECT {columns} FROM events WHERE {where}"  # noqa: S608
    return [
        {
            "event": event,
            "time": (_EPOCH + timedelta(microseconds=int(us))).isoformat(),
            "platform": platform,
            "page": page,
            "channel": channel,
            "amount": int(amount or 0),
            "properties": _properties(props),
        }
        for event, us, platform, page, channel, amount, props in await store.query(merchant_id, sql)
    ]


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    ai, o = AnalyticsIdentity, AnalyticsOutbox
    identities = await rows(
        session,
        ai,
        "distinct_id",
        "source",
        ai.platform_hint.label("platform"),
        ai.created_at.label("linked_at"),
        where=_identities_of(merchant_id, member_id),
        order_by=(ai.created_at, ai.distinct_id),
    )
    waiting = await member_rows(
        session,
        o,
        merchant_id,
        member_id,
        "event",
        "time",
        # The member's end is read when the row is flushed; until then it is not known.
        case((o.platform == MEMBER_END, None), else_=o.platform).label("platform"),
        "channel",
        "amount",
        "properties",
        order_by=o.id,
    )
    events = await _stored_events(pipeline_of(session).store, merchant_id, member_id)
    return {
        "distinct_ids": identities,
        "events": events,
        "events_truncated": len(events) >= EXPORT_LIMIT,
        "events_waiting": waiting,
    }


# ---- the erasure (database) ------------------------------------------------------------


def _without(value: Any, ids: set[str]) -> Any:
    """`value` with every string equal to one of `ids` replaced, at any depth."""
    if isinstance(value, str):
        return ERASED_VALUE if value in ids else value
    if isinstance(value, dict):
        return {k: _without(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_without(v, ids) for v in value]
    return value


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    ai = AnalyticsIdentity
    ids = set(await session.scalars(select(ai.distinct_id).where(_identities_of(m, who))))
    # Devices whose person is one of those ids (identified before the member existed).
    for start in range(0, len(ids), CHUNK):
        chunk = sorted(ids)[start : start + CHUNK]
        ids |= set(
            await session.scalars(
                select(ai.distinct_id).where(ai.merchant_id == m, ai.person_id.in_(chunk))
            )
        )
    ids.add(who)
    erasure.identifiers |= ids
    identities = 0
    listed = sorted(ids)
    for start in range(0, len(listed), CHUNK):
        chunk = listed[start : start + CHUNK]
        identities += await execute_bulk(
            session,
            delete(ai).where(
                ai.merchant_id == m,
                or_(ai.distinct_id.in_(chunk), ai.person_id.in_(chunk), ai.member_id.in_(chunk)),
            ),
        )
    o = AnalyticsOutbox
    waiting = await delete_by_member(session, m, who, o)
    # Other members' waiting events that name the person (a sharer, a promoter).
    mentioned = 0
    others = await session.execute(
        select(o.id, o.properties).where(o.merchant_id == m, o.batch_key.is_(None))
    )
    for outbox_id, props in list(others):
        cleaned = _without(props, ids)
        if cleaned != props:
            await execute_bulk(
                session, update(o).where(o.id == outbox_id).values(properties=cleaned)
            )
            mentioned += 1
    cache = pipeline_of(session).identities  # this process's; others' expire within seconds
    for distinct_id in ids:
        cache.drop(m, distinct_id)
    return {
        "analytics_identities": identities,
        "analytics_outbox": waiting[o.__tablename__],
        "outbox_mentions_stripped": mentioned,
    }


HANDLER = PrivacyHandler(
    section="analytics",
    tables=(AnalyticsIdentity.__tablename__, AnalyticsOutbox.__tablename__),
    export=export,
    erase=erase,
    keeps=(
        "the member's events in the event store, for the aggregate figures, under a random "
        "anonymous distinct id, without member id, properties or share code (the events "
        "store's eraser)"
    ),
)


# ---- the erasure (event store) ---------------------------------------------------------


async def erase_events(pipeline: Pipeline, erasure: Erasure) -> dict[str, int]:
    """The `events` store eraser, with every identifier the handlers collected (platform
    ids, devices, the member id). Ingested batches this process resolved to the member
    before it are written first, and none resolves again until the erasure's transaction
    has ended (`ErasureGate`); the identity cache then forgets the member's ids once more,
    in case a batch cached them from rows the transaction was deleting."""
    await pipeline.gate.close()

    async def reopen() -> None:
        for distinct_id in {*erasure.identifiers, erasure.member_id}:
            pipeline.identities.drop(erasure.merchant_id, distinct_id)
        await pipeline.gate.open()

    erasure.when_done.append(reopen)
    return await pipeline.store.erase(
        erasure.merchant_id, set(erasure.identifiers), erasure.member_id, pseudonym()
    )


async def expire_events(store: EventStore, before: datetime) -> dict[str, int]:
    """The event store's retention: raw events before `before` go, their hourly totals stay
    without anyone in them."""
    totals: dict[str, int] = {}
    for merchant_id in await store.merchants():
        for name, n in (await store.expire(merchant_id, before)).items():
            totals[name] = totals.get(name, 0) + n
    return totals
