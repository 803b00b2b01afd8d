"""The error model of API.md: every failure is `{"error": {"code", "message", "details"}}`.

Domain errors subclass `AppError` with a snake_case code and a 4xx status; the
handlers here map them, validation errors and unknown routes onto that shape. Personal
data sealed with a key this process lacks is a 503 `pii_key_unavailable`, and a database
that is down, full or held by another process's writer a 503 `service_unavailable`
(`core.db.unavailable`): neither is the request's fault, and a retry may succeed.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from growthloop.core.crypto import SealedValueUnreadable, UnknownKeyId
from growthloop.core.db import unavailable

log = logging.getLogger("growthloop.errors")


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "The request cannot be processed."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.detail_message = message or self.message
        self.details = details
        super().__init__(self.detail_message)


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"
    message = "A valid token is required."


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    message = "You may not do this."


class NotFound(AppError):
    status = 404
    code = "not_found"
    message = "Not found."


class Conflict(AppError):
    status = 409
    code = "conflict"
    message = "The current state does not allow this."


class Invalid(AppError):
    status = 422
    code = "invalid_input"
    message = "The input is invalid."


class TooManyRequests(AppError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; slow down."


class ServiceUnavailable(AppError):
    """A transient condition; the same request will succeed when retried."""

    status = 503
    code = "service_unavailable"
    message = "Try again shortly."


class PIIKeyUnavailable(ServiceUnavailable):
    """Personal data the request needs is sealed with a key this process does not hold
    (see core.crypto): an operator adds the key and restarts; nothing is wrong with the
    request. Answered instead of a 500 so clients retry and monitoring names the cause."""

    code = "pii_key_unavailable"
    message = "Personal data is sealed with a key this server does not hold; try again later."


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


class _FastJSON(JSONResponse):
    """The same bytes as Starlette's JSONResponse for an error body (compact, UTF-8 as
    is), written by orjson: a refused flash-sale purchase is mostly this."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(exc: AppError) -> JSONResponse:
    return _FastJSON(error_body(exc.code, exc.detail_message, exc.details), status_code=exc.status)


class ErrorAnswer:
    """`error_response`'s status, headers and bytes sent straight to ASGI, for the fast
    lanes: a crowd refused thousands of times a second need not build a Response each."""

    __slots__ = ("body", "status")

    def __init__(self, exc: AppError) -> None:
        self.status = exc.status
        self.body = orjson.dumps(error_body(exc.code, exc.detail_message, exc.details))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    fields = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        fields.append({"loc": loc, "type": err.get("type"), "message": err.get("msg")})
    return {"fields": fields}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(SealedValueUnreadable)
    async def _pii_key(_: Request, exc: SealedValueUnreadable) -> JSONResponse:
        log.error("personal data unreadable: %s", exc, extra={"key_id": exc.kid})
        if isinstance(exc, UnknownKeyId):
            why = f"is sealed with key id {exc.kid!r}, which this server does not hold"
        else:
            why = f"sealed with key id {exc.kid!r} does not open with this server's {exc.kid!r}"
        return error_response(
            PIIKeyUnavailable(f"Personal data {why}; try again later.", key_id=exc.kid)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        if any(f["type"] == "json_invalid" for f in details["fields"]):
            return JSONResponse(
                error_body("malformed_json", "The body is not valid JSON.", details), 422
            )
        if any(f["type"] == "control_character" for f in details["fields"]):
            message = "Text must not contain control characters (NUL and the like)."
            return JSONResponse(error_body("control_character", message, details), 422)
        return JSONResponse(error_body("invalid_input", "The input is invalid.", details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}
        code = codes.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_response(exc, request.url.path)

    for kind in (DBAPIError, PoolTimeout, ConnectionError, Exception):
        app.add_exception_handler(kind, _unexpected)


def unexpected_response(exc: Exception, path: str) -> JSONResponse:
    """What an exception no handler knows answers: 503 `service_unavailable` when the
    database cannot serve right now (`core.db.unavailable`), else a logged 500. The routes'
    handler and the fast lanes (`core.lanes`) both answer through this."""
    if unavailable(exc):
        log.warning("database unavailable: %s", exc, extra={"path": path})
        return JSONResponse(
            error_body("service_unavailable", "The database is busy or unreachable; try again."),
            status_code=503,
            headers={"Retry-After": "1"},
        )
    log.exception("unhandled error", extra={"path": path})
    return JSONResponse(error_body("internal_error", "An unexpected error occurred."), 500)
