"""Control characters in a URL are refused before any route runs.

Bodies are checked by `core.schemas.Strict`; this is the same rule for what arrives in the
path and the query string (`/v1/shares/%00/open`, `?q=%00`), which reach SQL as parameters:
PostgreSQL cannot hold a NUL, so without this such a request would fail as a 500 on one
backend and pass on the other.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from growthloop.core.errors import error_body
from growthloop.core.schemas import find_control_character


class ControlCharacterGuard:
    """Pure ASGI middleware: 422 `control_character` for a path or query carrying one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_query = scope.get("query_string", b"")
            query = unquote(raw_query.decode("latin-1"), errors="replace") if raw_query else ""
            for where, text in (("path", scope.get("path", "")), ("query", query)):
                found = find_control_character(text)
                if found is not None:
                    await _refuse(send, where, *found)
                    return
        await self.app(scope, receive, send)


async def _refuse(send: Send, where: str, position: int, char: str) -> None:
    body = error_body(
        "control_character",
        f"The {where} contains a control character (U+{ord(char):04X}).",
        {"in": where, "position": position},
    )
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
