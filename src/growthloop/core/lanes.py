"""Fast lanes: the few hot requests answered before the framework routes them.

A flash sale brings a merchant's whole following in the same second, and nearly every
one of those requests is refused (sold out, over the limit, not yet open). FastAPI's
work per request (matching ~200 routes, solving dependencies, wrapping the endpoint in
exit stacks) costs many times what the answer does, so `FastLanes`, a pure ASGI
middleware, matches a handful of (method, path) pairs first and hands them to a lane.

A lane either answers (it returns a `Response`, or any ASGI app; an `AppError` it
raised becomes the usual error body), or returns None and the request goes on to its
FastAPI route as if the lane were not there: the body it read is replayed, and what it
learnt travels in `request.state` (the ASGI scope's "state"), e.g. the units a purchase
already took. A lane that returns `Observe(seen)` lets the request go on too, and is
handed the route's complete response (a cache keeping what it may answer next time).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from growthloop.core.db import AfterCommit, run_callbacks
from growthloop.core.errors import AppError, ErrorAnswer, unexpected_response

log = logging.getLogger(__name__)

Seen = Callable[[int, list[tuple[bytes, bytes]], bytes], None]


@dataclass(frozen=True)
class Observe:
    """Go on to the route; then call `seen(status, headers, body)` with its response."""

    seen: Seen


LaneHandler = Callable[[Request], Awaitable[ASGIApp | Observe | None]]

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Lane:
    """`path` in the route's own syntax: "/v1/flash-sales/{sale_id}/purchase"."""

    method: str
    path: str
    handle: LaneHandler

    def pattern(self) -> re.Pattern[str]:
        parts = _PARAM.split(self.path)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
        )
        return re.compile(f"^{regex}$")


class FastLanes:
    def __init__(self, app: ASGIApp, lanes: list[Lane]) -> None:
        self.app = app
        self.lanes = [(lane, lane.pattern()) for lane in lanes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            for lane, pattern in self.lanes:
                if lane.method != method:
                    continue
                found = pattern.match(path)
                if found is not None:
                    scope["path_params"] = found.groupdict()
                    scope["route"] = lane  # the request log names it by its `path`
                    await self._run(lane.handle, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _run(self, handle: LaneHandler, scope: Scope, receive: Receive, send: Send) -> None:
        body = None
        if scope["method"] in _BODY_METHODS:
            body = await _read_body(receive)
            if body is None:  # the client went away mid-body: nothing to judge or answer
                return
        request = LaneRequest(scope, _replay(body, receive), send)
        if body is not None:
            request.lane_body = body
        try:
            outcome = await handle(request)
        except AppError as exc:
            outcome = ErrorAnswer(exc)
        except Exception as exc:  # the framework's handlers are behind the lanes
            outcome = unexpected_response(exc, scope["path"])
        if outcome is not None and not isinstance(outcome, Observe):
            await run_callbacks(take_on_rollback(request))  # answered here: nothing commits
            await outcome(scope, receive, send)
            return
        onward = send if outcome is None else _observed(send, outcome.seen)
        try:
            await self.app(scope, _replay(body, receive), onward)
        except BaseException:
            # Undo what the lane did if the route never took its undo over (it failed, or
            # was cancelled, before its unit of work opened).
            await run_callbacks(take_on_rollback(request))
            raise


class LaneRequest(Request):
    """A request whose body the lane already read: `body()` hands it over without going
    through the replayed stream again."""

    lane_body: bytes | None = None

    async def body(self) -> bytes:
        return self.lane_body if self.lane_body is not None else await super().body()


# Kept in the scope's "state" dict, the one `request.state` wraps (read here without
# building that wrapper on every request a lane answers).
_UNDO = "on_rollback"


def on_rollback(request: Request, callback: AfterCommit) -> None:
    """From a lane: run `callback` if this request's unit of work does not commit."""
    request.scope.setdefault("state", {}).setdefault(_UNDO, []).append(callback)


def take_on_rollback(request: Request) -> list[AfterCommit]:
    """The undo a lane left, handed over once (to the unit of work, or run here)."""
    state: dict[str, list[AfterCommit]] | None = request.scope.get("state")
    return state.pop(_UNDO, []) if state else []


def _observed(send: Send, seen: Seen) -> Send:
    status = 0
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def observe(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                seen(status, headers, b"".join(chunks))
        await send(message)

    return observe


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when the client went away before sending all of it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes | None, receive: Receive) -> Receive:
    """`receive` with the body already read (if it was) given first, then the real one."""
    if body is None:
        return receive
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
