"""The baseline of bench/http_paths.py: a bare Starlette app, one small JSON body on GET and POST,
served by the same uvicorn (uvloop, httptools) as growthloop. Imported by uvicorn."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def small_json(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "database": "none"})


app = Starlette(routes=[Route("/json", small_json, methods=["GET", "POST"])])
