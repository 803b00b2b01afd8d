"""Domain events.

`emit()` does two things in the caller's transaction:
- runs the *in-transaction* subscribers with the same session, for reactions that
  must be atomic with the cause (a verified payment moves its order);
- writes an outbox row for the *after-commit* subscribers (analytics, loyalty,
  campaigns...). The outbox is dispatched only after the commit, by the sweeper,
  so a rolled-back action emits nothing and a crash loses nothing. Delivery is
  at-least-once; subscribers are idempotent (ledger idempotency keys etc.).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from growthloop.core.clock import Clock
from growthloop.core.db import Database, uow_of
from growthloop.core.models import Base, UTCDateTime, col, id_column, merchant_column

log = logging.getLogger("growthloop.events")

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class DomainEvent:
    name: str
    merchant_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    member_id: str | None = None


Handler = Callable[[AsyncSession, DomainEvent], Awaitable[None]]


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = merchant_column()
    name: Mapped[str] = col(String(64), nullable=False, pii=None)
    member_id: Mapped[str | None] = col(String(26), index=True, pii=None)
    payload: Mapped[dict[str, Any]] = col(JSON, nullable=False, pii=None)
    created_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    dispatched_at: Mapped[datetime | None] = col(UTCDateTime(), index=True, pii=None)
    attempts: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    next_attempt_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    last_error: Mapped[str | None] = col(Text, pii=None)


class EventBus:
    def __init__(self) -> None:
        self._in_tx: dict[str, list[Handler]] = defaultdict(list)
        self._after: dict[str, list[Handler]] = defaultdict(list)

    def on(self, name: str, handler: Handler, *, in_transaction: bool = False) -> None:
        (self._in_tx if in_transaction else self._after)[name].append(handler)

    def has_after_commit(self, name: str) -> bool:
        return bool(self._after.get(name))

    async def publish(self, session: AsyncSession, event: DomainEvent, now: datetime) -> None:
        for handler in self._in_tx.get(event.name, ()):
            await handler(session, event)
        if self._after.get(event.name):
            session.add(
                OutboxEvent(
                    merchant_id=event.merchant_id,
                    name=event.name,
                    member_id=event.member_id,
                    payload=event.payload,
                    created_at=now,
                )
            )
            uow = uow_of(session)
            kick = session.info.get("kick")
            if callable(kick):
                uow.after_commit(kick)

    async def dispatch_pending(self, db: Database, clock: Clock, limit: int = 200) -> int:
        """Deliver undispatched outbox rows, one transaction each; safe with many workers."""
        done = 0
        for _ in range(limit):
            async with db.unit_of_work() as uow:
                s = uow.session
                now = clock.now()
                stmt = (
                    select(OutboxEvent)
                    .where(OutboxEvent.dispatched_at.is_(None))
                    .where(
                        (OutboxEvent.next_attempt_at.is_(None))
                        | (OutboxEvent.next_attempt_at <= now)
                    )
                    .order_by(OutboxEvent.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                row = (await s.execute(stmt)).scalar_one_or_none()
                if row is None:
                    return done
                event = DomainEvent(row.name, row.merchant_id, row.payload, row.member_id)
                try:
                    async with s.begin_nested():
                        for handler in self._after.get(row.name, ()):
                            await handler(s, event)
                    row.dispatched_at = now
                except Exception as exc:  # a subscriber bug must not stop the others
                    log.exception("event subscriber failed", extra={"event": row.name})
                    row.attempts += 1
                    row.last_error = f"{type(exc).__name__}"
                    delay = timedelta(seconds=min(3600, 2**row.attempts))
                    if row.attempts >= MAX_ATTEMPTS:
                        row.dispatched_at = now  # parked; last_error says why
                    else:
                        row.next_attempt_at = now + delay
                done += 1
        return done


async def emit(session: AsyncSession, event: DomainEvent) -> None:
    bus = session.info.get("bus")
    clock = session.info.get("clock")
    if not isinstance(bus, EventBus) or not isinstance(clock, Clock):
        raise RuntimeError("session has no event bus; open it through the app's unit of work")
    await bus.publish(session, event, clock.now())
