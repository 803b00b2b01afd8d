"""Versions that tell a process's in-memory answers from stale ones.

A cache shared by several processes keeps, per key (a merchant's menu, a merchant's
settings), the version its answer was made under: a counter in the counter backend (Redis
when configured, so every process reads the same one) that every committed change bumps.
The process that committed a change sees the new version at once; another reads it again
at most every FRESH_SECONDS (a Redis round trip per request would cost more than the
answers it guards), so it may answer from the old state that long after the commit.
"""

from __future__ import annotations

import logging
import time
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from growthloop.core.context import uow_of
from growthloop.core.db import UnitOfWork
from growthloop.core.kv import CounterBackend

log = logging.getLogger(__name__)

FRESH_SECONDS = 0.05  # how long a process trusts a version it read from the backend
MAX_KEYS = 5_000  # versions remembered per process; all are dropped when full


class SharedVersions:
    def __init__(self, counters: CounterBackend, namespace: str) -> None:
        self._counters = counters
        self._namespace = namespace
        self._known: dict[str, tuple[int, float]] = {}  # key -> (version, read at)
        self._pending: WeakKeyDictionary[UnitOfWork, set[str]] = WeakKeyDictionary()

    async def current(self, key: str) -> int | None:
        """The key's version; None when the backend cannot say (Redis away): answer from
        the database then, uncached."""
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and now - known[1] < FRESH_SECONDS:
            return known[0]
        try:
            version = await self._counters.version(f"{self._namespace}:{key}")
        except Exception:
            log.warning(
                "%s versions unreadable; answering uncached", self._namespace, exc_info=True
            )
            return None
        if len(self._known) >= MAX_KEYS:
            self._known.clear()
        self._known[key] = (version, now)
        return version

    def changing(self, session: AsyncSession | Session, key: str) -> bool:
        """Whether this session's unit of work changes `key` (its own reads skip the cache)."""
        return key in self._pending.get(uow_of(session), ())

    def bump_after_commit(self, session: AsyncSession | Session, key: str) -> None:
        """This unit of work changes `key`: bump its version once it commits (once)."""
        uow = uow_of(session)
        pending = self._pending.setdefault(uow, set())
        if key in pending:
            return
        pending.add(key)

        async def bump() -> None:
            try:
                version = await self._counters.bump(f"{self._namespace}:{key}")
                self._known[key] = (version, time.monotonic())
            except Exception:  # the commit stands; the caches' own age limits bound the rest
                log.warning("%s version not bumped", self._namespace, exc_info=True)
                self._known.pop(key, None)

        uow.after_commit(bump)
