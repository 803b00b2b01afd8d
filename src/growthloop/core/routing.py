"""Every API route runs inside one unit of work, with Idempotency-Key handling.

`UnitOfWorkRoute` opens the transaction before the endpoint's dependencies run
(writing for POST/PUT/PATCH/DELETE, reading for GET), commits once when the endpoint
returns a success, and rolls back on any error response or exception. For a POST
carrying `Idempotency-Key`, the key and the response are stored in that same
transaction, scoped by the verified caller: a request whose token is not valid now is
never answered from the store (it goes through and gets its 401).

A fast lane (`core.lanes`) may have judged the request before it reached its route (a
flash sale's purchase answers "sold out" without the database). What the lane did
outside the database it undoes through `core.lanes.on_rollback(request, callback)` if
the request then does not commit.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from growthloop.core import idempotency
from growthloop.core.auth import caller_scope
from growthloop.core.db import run_callbacks
from growthloop.core.idempotency import IdempotencyRecord, StoredResponse
from growthloop.core.lanes import take_on_rollback

__all__ = ["REPLAY_HEADER", "KeyedEventsRoute", "UnitOfWorkRoute"]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ADMIN_PREFIX = "/v1/admin/"
REPLAY_HEADER = "Idempotent-Replayed"


class UnitOfWorkRoute(APIRoute):
    # Whether a POST's Idempotency-Key is stored with its answer and replayed.
    replays = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        # An admin's request may be a long report or a bulk change: off the loop's thread
        # (see core.db); the consumers' short ones run on it.
        inline = not self.path.startswith(ADMIN_PREFIX)

        async def run(request: Request) -> Response:
            write = request.method not in READ_METHODS
            key = (
                request.headers.get("idempotency-key")
                if request.method == "POST" and self.replays
                else None
            )
            if key is not None:
                idempotency.check_key(key)
            try:
                return await self._serve(request, handler, write, key, inline)
            except BaseException:
                await run_callbacks(take_on_rollback(request))
                raise

        return run

    async def _serve(
        self,
        request: Request,
        handler: Callable[[Request], Coroutine[Any, Any, Response]],
        write: bool,
        key: str | None,
        inline: bool,
    ) -> Response:
        rt = request.app.state.runtime
        async with rt.db.unit_of_work(write=write, inline=inline) as uow:
            for callback in take_on_rollback(request):
                uow.on_rollback(callback)
            request.state.uow = uow
            record: IdempotencyRecord | None = None
            scope = await caller_scope(request, uow.session) if key is not None else None
            if key is not None and scope is not None:
                body = await request.body()
                fingerprint = idempotency.digest(request.method, request.url.path, body)
                claimed = await idempotency.begin(
                    uow.session, idempotency.digest(scope), key, fingerprint, rt.clock.now()
                )
                if isinstance(claimed, StoredResponse):
                    uow.mark_rollback()
                    return Response(
                        claimed.body,
                        status_code=claimed.status_code,
                        media_type="application/json",
                        headers={REPLAY_HEADER: "true"},
                    )
                record = claimed
            response = await handler(request)
            if response.status_code >= 400:
                uow.mark_rollback()
            elif record is not None:
                await idempotency.finish(
                    uow.session, record, response.status_code, bytes(response.body)
                )
        return response


class KeyedEventsRoute(UnitOfWorkRoute):
    """Routes whose requests carry their own ids (analytics events, deduplicated by event
    id): an Idempotency-Key is ignored. Their durable write runs after the commit, so an
    answer stored with the key could replay a success for a write that then failed."""

    replays = False
