"""Analytics' sweeps, each opening its own units of work: move the business events waiting
in the outbox to the event store, fold new events into the hourly aggregates, judge the
alert rules and deliver the alerts' webhooks. Each logs what it did, when it did anything."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter

from growthloop.analytics import alerts
from growthloop.analytics import repository as repo
from growthloop.analytics.models import AnalyticsOutbox
from growthloop.analytics.pipeline import Pipeline
from growthloop.analytics.rows import EventRow
from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.ids import new_id

log = logging.getLogger("growthloop.analytics")

FLUSH_BATCH = 5_000
ROLL_UP_EVERY = 30.0  # seconds; queries aggregate the newer tail themselves


def _row(o: AnalyticsOutbox, ends: dict[tuple[str, str], str]) -> EventRow:
    platform = o.platform
    if platform == repo.MEMBER_END:
        platform = ends.get((o.merchant_id, o.member_id), "server") if o.member_id else "server"
    return EventRow(
        merchant_id=o.merchant_id,
        uuid=f"gl-{o.id}",
        event=o.event,
        distinct_id=o.member_id or f"merchant:{o.merchant_id}",
        member_id=o.member_id,
        time=o.time,
        received_at=o.time,
        platform=platform,
        page=None,
        share_code=o.share_code,
        channel=o.channel,
        amount=o.amount,
        properties=json.dumps(o.properties, ensure_ascii=False, separators=(",", ":")),
    )


async def flush_outbox(db: Database, pipeline: Pipeline) -> int:
    """Move waiting business events to the event store in bulk. A flush first marks its
    batch with a key (committed), writes it under that key, then deletes it: a flush that
    died between the write and the delete is finished by the next one, and the store
    writes a key's batch only once."""
    moved = batches = 0
    while True:
        async with db.unit_of_work() as uow:
            rows = await repo.in_flight_outbox(uow.session, FLUSH_BATCH)
            if rows:
                key = rows[0].batch_key
                assert key is not None
            else:
                rows = await repo.pending_outbox(uow.session, FLUSH_BATCH)
                key = f"ob-{new_id()}"
                if rows:
                    await repo.mark_outbox(uow.session, [r.id for r in rows], key)
            ends = await repo.platform_hints(
                uow.session,
                (
                    (r.merchant_id, r.member_id)
                    for r in rows
                    if r.member_id and r.platform == repo.MEMBER_END
                ),
            )
            events = [_row(r, ends) for r in rows]
        if not events:
            break
        await pipeline.store.append(events, key=key)
        async with db.unit_of_work() as uow:
            await repo.delete_outbox_batch(uow.session, key)
        moved += len(events)
        batches += 1
        if len(events) < FLUSH_BATCH:
            break
    if moved:
        log.info("business events flushed", extra={"events": moved, "batches": batches})
    return moved


async def maintain_store(pipeline: Pipeline, *, force: bool = False) -> int:
    now = time.monotonic()
    if not force and now - pipeline.maintained_at < ROLL_UP_EVERY:
        return 0
    pipeline.maintained_at = now
    folded = await pipeline.store.roll_up()
    merged = await pipeline.store.compact()
    if folded or merged:
        log.info("event store maintained", extra={"folded": folded, "merged": merged})
    return folded + merged


async def evaluate_due(db: Database, clock: Clock, pipeline: Pipeline) -> int:
    """Judge every enabled rule's latest complete period, once per period; the alerts
    fired."""
    judged = fired = 0
    at = clock.now()
    async with db.unit_of_work() as uow:
        rules = await alerts.enabled_rules(uow.session)
    for rule, tz in rules:
        start = alerts.last_complete_period(rule, tz, at)
        if start is None or pipeline.judged.get(rule.id) == start:
            continue
        async with db.unit_of_work() as uow:
            if await alerts.evaluate_rule(uow.session, pipeline, rule, tz, at):
                fired += 1
        judged += 1
        pipeline.judged[rule.id] = start
    if judged:
        log.info("alert rules judged", extra={"judged": judged, "fired": fired})
    return fired


async def deliver_webhooks(db: Database, clock: Clock, pipeline: Pipeline, limit: int = 50) -> int:
    """POST due alerts to their rule's webhook, each attempt in its own transaction; the
    alerts delivered."""
    async with db.unit_of_work() as uow:
        due = await alerts.due_webhooks(uow.session, clock.now(), limit)
    outcomes: Counter[str] = Counter()
    for alert_id in due:
        async with db.unit_of_work() as uow:
            outcome = await alerts.deliver(uow.session, pipeline, alert_id)
        if outcome is not None:
            outcomes[outcome] += 1
    if outcomes:
        log.info(
            "alert webhooks attempted",
            extra={
                "sent": outcomes["sent"],
                "retrying": outcomes["retrying"],
                "failed": outcomes["failed"],
            },
        )
    return outcomes["sent"]
