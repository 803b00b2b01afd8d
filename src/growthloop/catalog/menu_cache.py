"""The consumer's menu, answered from memory while it has not changed.

Every visitor reads the menu (`GET /v1/products`, `GET /v1/products/{id}`), and it
changes far less often than it is read. Each process keeps the answers it gave, keyed by
the merchant whose shop was browsed (the member token's merchant, else `?merchant_id=`),
the path and the query, beside the merchant's menu *version*: a counter in the counter
backend (Redis when configured, so every process sees the same one) that every
committed catalog or stock change bumps (`changed`). A request is answered from memory
only when the merchant's version is the one the answer was made under. The process that
committed a change sees it at once; another reads the version again at most every
VERSION_SECONDS (a Redis round trip per request would cost more than the answer), so it
serves the old menu at most that long after the commit. MAX_AGE_SECONDS bounds how
long an answer lives even so: a process killed between its commit and its bump, or a
bump lost to a Redis outage, cannot leave a menu stale for longer.

The cache is on where every process serving the menu reads the same versions: with
Redis, or on SQLite (the embedded set-up is one process). On PostgreSQL without Redis
each process would hold versions of its own, so the menu is read from the database.

A member token is verified (signature, type, expiry) before its merchant is trusted; a
token this cannot verify goes on to the route for its 401. What a hit skips is the
check that the member's account is still open: the menu is the same one anyone may read
without logging in.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from growthloop.core.auth import TokenCodec
from growthloop.core.clock import Clock
from growthloop.core.context import context_of, uow_of
from growthloop.core.db import UnitOfWork
from growthloop.core.errors import AppError
from growthloop.core.kv import CounterBackend
from growthloop.core.lanes import Lane, Observe

log = logging.getLogger(__name__)

MAX_AGE_SECONDS = 10.0
VERSION_SECONDS = 0.05  # how long a process trusts the version it read from Redis
MAX_ENTRIES = 5_000  # answers per process; all are dropped when full

Key = tuple[str, str, bytes]  # merchant, path, query
_KEPT_HEADERS = frozenset({b"content-type", b"content-length"})


@dataclass(frozen=True)
class _Answer:
    """A kept 200, itself the ASGI app that sends it again."""

    version: int
    made_at: float  # monotonic
    headers: list[tuple[bytes, bytes]]
    body: bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


class MenuCache:
    def __init__(
        self, counters: CounterBackend, tokens: TokenCodec, clock: Clock, *, enabled: bool = True
    ) -> None:
        self.enabled = enabled
        self._counters = counters
        self._tokens = tokens
        self._clock = clock
        self._answers: dict[Key, _Answer] = {}
        self._versions: dict[str, tuple[int, float]] = {}  # merchant -> (version, read at)
        self._pending: WeakKeyDictionary[UnitOfWork, set[str]] = WeakKeyDictionary()

    def lanes(self) -> list[Lane]:
        if not self.enabled:
            return []
        return [
            Lane("GET", "/v1/products", self.serve),
            Lane("GET", "/v1/products/{product_id}", self.serve),
        ]

    async def serve(self, request: Request) -> ASGIApp | Observe | None:
        merchant = self._browsed_merchant(request)
        if merchant is None:
            return None
        version = await self._version(merchant)
        if version is None:
            return None
        key = (merchant, request.scope["path"], request.scope["query_string"])
        answer = self._answers.get(key)
        if (
            answer is not None
            and answer.version == version
            and time.monotonic() - answer.made_at < MAX_AGE_SECONDS
        ):
            return answer
        made_at = time.monotonic()

        def keep(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
            if status != 200:
                return
            if len(self._answers) >= MAX_ENTRIES:
                self._answers.clear()
            kept = [(k, v) for k, v in headers if k.lower() in _KEPT_HEADERS]
            self._answers[key] = _Answer(version, made_at, kept, body)

        return Observe(keep)

    async def _version(self, merchant: str) -> int | None:
        """The merchant's menu version, read again at most every VERSION_SECONDS."""
        now = time.monotonic()
        known = self._versions.get(merchant)
        if known is not None and now - known[1] < VERSION_SECONDS:
            return known[0]
        try:
            version = await self._counters.version(_version_key(merchant))
        except Exception:  # Redis away: serve from the database, uncached
            log.warning("menu cache: version unreadable; serving uncached", exc_info=True)
            return None
        if len(self._versions) >= MAX_ENTRIES:
            self._versions.clear()
        self._versions[merchant] = (version, now)
        return version

    def _browsed_merchant(self, request: Request) -> str | None:
        """The merchant the route would serve, or None to leave the request to it."""
        authorization = request.headers.get("authorization")
        if authorization is None:
            return request.query_params.get("merchant_id") or None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = self._tokens.decode(token, "member", self._clock.now())
        except AppError:
            return None
        return str(claims["mer"])

    def changed(self, session: AsyncSession, merchant_id: str) -> None:
        """This unit of work changes the merchant's menu: bump its version once it commits."""
        if not self.enabled:
            return
        uow = uow_of(session)
        pending = self._pending.setdefault(uow, set())
        if merchant_id in pending:
            return
        pending.add(merchant_id)

        async def bump() -> None:
            try:
                version = await self._counters.bump(_version_key(merchant_id))
                self._versions[merchant_id] = (version, time.monotonic())
            except Exception:  # the commit stands; MAX_AGE bounds the rest
                log.warning("menu cache: version not bumped", exc_info=True)
                self._versions.pop(merchant_id, None)

        uow.after_commit(bump)


def _version_key(merchant_id: str) -> str:
    return f"menu:{merchant_id}"


def menu_changed(session: AsyncSession, merchant_id: str) -> None:
    """Called by every catalog write: the menu cache of this runtime, told after commit."""
    context_of(session).part(MenuCache).changed(session, merchant_id)
