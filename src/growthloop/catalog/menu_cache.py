"""The consumer's menu, answered from memory while it has not changed.

Every visitor reads the menu (`GET /v1/products`, `GET /v1/products/{id}`), and it
changes far less often than it is read. Each process keeps the answers it gave, keyed by
the merchant whose shop was browsed (the member token's merchant, else `?merchant_id=`),
the path and the query, beside the merchant's menu *version* (`core.versions`), which every
committed catalog or stock change bumps (`changed`). A request is answered from memory
only when the merchant's version is the one the answer was made under: another process
than the one that committed a change serves the old menu at most FRESH_SECONDS after the
commit. MAX_AGE_SECONDS bounds how
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

import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from growthloop.core.auth import TokenCodec
from growthloop.core.clock import Clock
from growthloop.core.context import context_of
from growthloop.core.errors import AppError
from growthloop.core.kv import CounterBackend
from growthloop.core.lanes import Lane, Observe
from growthloop.core.versions import SharedVersions

MAX_AGE_SECONDS = 10.0
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
        self._tokens = tokens
        self._clock = clock
        self._answers: dict[Key, _Answer] = {}
        self._versions = SharedVersions(counters, "menu")

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
        version = await self._versions.current(merchant)
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
        self._versions.bump_after_commit(session, merchant_id)


def menu_changed(session: AsyncSession, merchant_id: str) -> None:
    """Called by every catalog write: the menu cache of this runtime, told after commit."""
    context_of(session).part(MenuCache).changed(session, merchant_id)
