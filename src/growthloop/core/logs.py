"""Logs with a request id: one JSON object per line for machines, one readable line for a
person at a terminal.

Request logs carry the method, the route template (not the raw path or query, which
may hold codes or phone numbers), the status and the duration: never headers,
bodies, tokens or personal information.

A log call's `extra` fields are all written (ids, amounts, statuses, reasons, counts:
what an operator needs at 3 a.m.) except those whose names say they would carry a
person's data or a secret (`phone`, `nickname`, `address`, `openid`, `token`, `code`,
`secret`...): those are dropped by name, whatever the caller passed. Callers log ids,
never values; the test in tests/core/test_log_privacy.py checks no value leaks.

The format (`GROWTHLOOP_LOG_FORMAT`): `auto` (the default) writes text when stderr is a
terminal and JSON otherwise (a pipe, a file, a log collector); `json` and `text` force one.
At a terminal Alembic's line per migration is left out: the first run of a fresh data dir
applies dozens, and `growthloop.migrate` logs one summary line instead.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from growthloop.core.ids import new_request_id

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DRIVER_LOGGERS = ("uvicorn.access", "aiosqlite", "asyncpg", "sqlalchemy.engine", "asyncio", "httpx")
# The attributes every LogRecord has; anything else on a record came from `extra`.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
# Field names that would carry a person's data or a secret: never written.
_PERSONAL_FIELD = re.compile(
    r"phone|mobile|name|address|email|openid|unionid|token|secret|password|passwd|code|"
    r"birthday|card|id_?number|key|body|headers|query|payload|ip$",
    re.IGNORECASE,
)
# Written first and in this order; other fields follow sorted.
_LEADING_FIELDS = ("method", "route", "status", "duration_ms")
# Per-revision INFO lines; at a terminal only their summary (growthloop.migrate) is shown.
MIGRATION_LOGGERS = ("alembic",)
LogFormat = Literal["auto", "json", "text"]


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's `extra` fields that may be logged (see the module's docstring)."""
    found = {
        k: v
        for k, v in vars(record).items()
        if k not in _RECORD_FIELDS and not k.startswith("_") and not _PERSONAL_FIELD.search(k)
    }
    ordered = {k: found.pop(k) for k in _LEADING_FIELDS if k in found}
    ordered.update(sorted(found.items()))
    return ordered


def _scalar(value: Any) -> Any:
    """JSON-able as is, else its str() (an enum, a datetime, a Decimal)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple) and all(
        v is None or isinstance(v, bool | int | float | str) for v in value
    ):
        return list(value)
    return str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in extra_fields(record).items():
            entry[name] = _scalar(value)
        request_id = request_id_var.get()
        if request_id:
            entry.setdefault("request_id", request_id)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`12:04:05 INFO  growthloop.request: request method=GET route=/v1/orders status=200
    duration_ms=3.1 request_id=01...` on one line, in the machine's local time; a traceback,
    if any, on the lines below."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        # uvicorn logs everything but requests as "uvicorn.error", INFO included.
        name = "uvicorn" if record.name == "uvicorn.error" else record.name
        line = f"{stamp} {record.levelname:<5} {name}: {record.getMessage()}"
        extra = extra_fields(record)
        fields = [f"{field}={_scalar(value)}" for field, value in extra.items()]
        request_id = request_id_var.get()
        if request_id and "request_id" not in extra:
            fields.append(f"request_id={request_id}")
        if fields:
            line += " " + " ".join(fields)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def use_text(log_format: LogFormat, stream: TextIO) -> bool:
    """Whether `auto` (or the format asked for) means text on this stream."""
    if log_format == "auto":
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())
    return log_format == "text"


def configure_logging(level: str = "INFO", log_format: LogFormat = "auto") -> None:
    stream = sys.stderr
    text = use_text(log_format, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_drivers()
    # uvicorn's lines go through our handler and format, whatever a uvicorn.Config set
    # up earlier in this process (its own handlers, propagate off, a level).
    for name in ("uvicorn", "uvicorn.error"):
        server_log = logging.getLogger(name)
        server_log.handlers.clear()
        server_log.propagate = True
        server_log.setLevel(logging.NOTSET)
    for name in MIGRATION_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if text else logging.NOTSET)


def quiet_drivers() -> None:
    """Driver loggers print SQL parameters (personal data) at DEBUG: never below WARNING."""
    for noisy in DRIVER_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"x-request-id":
            incoming = value.decode("latin-1")
            return incoming if _SAFE_REQUEST_ID.match(incoming) else None
    return None


class RequestLogMiddleware:
    """Pure ASGI middleware: assigns the request id and logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("growthloop.request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope["headers"]) or new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.log.isEnabledFor(logging.INFO):  # the record costs more than the check
                route = scope.get("route")
                self.log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": getattr(route, "path", "unmatched"),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id_var.reset(token)
