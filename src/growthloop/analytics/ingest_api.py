"""The native ingest endpoint. The SDK-compatible ones are in `compat_api.py`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from growthloop.analytics import service
from growthloop.analytics.formats import native, parse_json, read_body
from growthloop.analytics.schemas import IngestBatchIn, IngestOut
from growthloop.core.auth import SessionDep
from growthloop.core.routing import KeyedEventsRoute

router = APIRouter(route_class=KeyedEventsRoute, tags=["analytics ingest"])

_BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": IngestBatchIn.model_json_schema()}},
    }
}


@router.post("/v1/ingest/batch", response_model=IngestOut, openapi_extra=_BATCH_BODY)
async def ingest_batch(request: Request, session: SessionDep) -> dict[str, Any]:
    """Events with the merchant's ingest key (`X-Ingest-Key` or the body's `api_key`). Each
    bad event is rejected alone and listed in `rejected`; the rest are durable when this
    answers and visible to queries at once. Events from crawlers are `dropped`; curl, wget,
    HTTPie and python-requests are integrators' scripts here and are stored. Event names:
    docs/events.md."""
    body = parse_json(await read_body(request))
    key = request.headers.get("x-ingest-key") or (
        body.get("api_key") if isinstance(body, dict) else None
    )
    merchant = await service.merchant_for_key(session, key)
    batch = native.decode(body)
    result = await service.ingest(
        session, merchant, batch, user_agent=request.headers.get("user-agent"), scripts=True
    )
    return result.as_dict()
