"""A merchant's settings that every order reads, answered from memory while unchanged.

Paying an order asks the merchant's timezone (the pickup number's day), whether
distribution is on and whether an invite rule rewards a first order: three queries of rows
that change a few times a year. Each answer is kept per merchant and name beside the
merchant's settings version (`core.versions`), and serves while that version holds.

The writes are noticed by the session itself: after each flush, every new, changed or
deleted object of a model a domain asked to `watch` bumps its merchant's version once the
unit of work commits, so no write path can forget to say so (the watched tables are never
written by Core statements; tests/core/test_settings_cache.py holds it). The unit of work
making such a change reads the database until it commits. Off where the processes could
not share versions (PostgreSQL without Redis), like the menu cache.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from growthloop.core.context import context_in, context_of
from growthloop.core.kv import CounterBackend
from growthloop.core.versions import SharedVersions

# How long an answer lives even while its version holds: a bump lost to a Redis outage,
# or a change by a process that shares no counters with this one (the CLI beside an
# embedded server), is outlived this long at most. The menu cache's bound.
MAX_AGE_SECONDS = 10.0
MAX_ENTRIES = 20_000

V = TypeVar("V")


class SettingsCache:
    def __init__(self, counters: CounterBackend, *, enabled: bool) -> None:
        self.enabled = enabled
        self._versions = SharedVersions(counters, "settings")
        self._values: dict[tuple[str, str], tuple[int, float, Any]] = {}
        self._watched: dict[type, Callable[[Any], str]] = {}

    def watch(self, model: type[V], merchant_of: Callable[[V], str]) -> None:
        """A write to a `model` object changes the settings of `merchant_of(object)`."""
        self._watched[model] = merchant_of

    async def get(
        self, session: AsyncSession, merchant_id: str, name: str, load: Callable[[], Awaitable[V]]
    ) -> V:
        """`load()`'s answer (an immutable value), from memory while the merchant's settings
        have not changed since it was kept."""
        if not self.enabled or self._changing_here(session.sync_session, merchant_id):
            return await load()
        version = await self._versions.current(merchant_id)
        if version is None:
            return await load()
        key = (merchant_id, name)
        kept = self._values.get(key)
        at = time.monotonic()
        if kept is not None and kept[0] == version and at - kept[1] < MAX_AGE_SECONDS:
            return kept[2]  # type: ignore[no-any-return]
        value = await load()
        if len(self._values) >= MAX_ENTRIES:
            self._values.clear()
        self._values[key] = (version, at, value)
        return value

    def _changed_in(self, session: Session) -> set[str]:
        """The merchants whose watched objects `session` holds unflushed changes of."""
        changed = set()
        for obj in chain(session.new, session.dirty, session.deleted):
            merchant_of = self._watched.get(type(obj))
            if merchant_of is not None:
                changed.add(merchant_of(obj))
        return changed

    def _changing_here(self, session: Session, merchant_id: str) -> bool:
        return self._versions.changing(session, merchant_id) or merchant_id in self._changed_in(
            session
        )

    def flushed(self, session: Session) -> None:
        for merchant_id in self._changed_in(session):
            self._versions.bump_after_commit(session, merchant_id)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: object) -> None:
    context = context_in(session)
    if context is not None:
        for part in context.parts:
            if isinstance(part, SettingsCache):
                part.flushed(session)


async def cached_setting(
    session: AsyncSession, merchant_id: str, name: str, load: Callable[[], Awaitable[V]]
) -> V:
    """`load()`'s answer through this runtime's settings cache (see `SettingsCache.get`)."""
    return await context_of(session).part(SettingsCache).get(session, merchant_id, name, load)
