"""Ingest endpoints that speak existing SDKs' protocols: PostHog, Sensors Data, Segment.

Each route reads the body (`read_body`: size limits, gzip), decodes it with its format
(`formats/posthog.py`, `sensors.py`, `segment.py`), finds the merchant by the key the
format carries, and hands the batch to `service.ingest`, exactly as the native route does.
Every answer is 200 with `{accepted, rejected, duplicates, dropped}` (which the three SDKs
take as success); a body that cannot be decoded is a 4xx with the standard error body.
Records a format acknowledges without storing them (Sensors profiles and items, Segment
`group`) count in `accepted`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from growthloop.analytics import service
from growthloop.analytics.formats import posthog, read_body, segment, sensors
from growthloop.analytics.ingest import MAX_BATCH_EVENTS, Batch
from growthloop.analytics.pipeline import IngestMerchant
from growthloop.analytics.schemas import IngestOut
from growthloop.core.auth import SessionDep
from growthloop.core.routing import KeyedEventsRoute

router = APIRouter(route_class=KeyedEventsRoute, tags=["analytics ingest"])

_ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}

# ---- OpenAPI request bodies ---------------------------------------------------------------

_POSTHOG_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "maxLength": 200, "examples": ["$pageview"]},
        "distinct_id": {"type": "string", "maxLength": 200},
        "properties": _ANY_OBJECT,
        "timestamp": {"type": "string", "description": "ISO 8601"},
        "uuid": {"type": "string", "maxLength": 128, "description": "deduplicates retries"},
        "api_key": {"type": "string"},
    },
    "required": ["event"],
}
_POSTHOG_BATCH: dict[str, Any] = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "description": "the merchant's ingest key"},
        "batch": {"type": "array", "items": _POSTHOG_EVENT, "maxItems": MAX_BATCH_EVENTS},
        "sent_at": {"type": "string", "description": "when the client sent the batch"},
    },
    "required": ["batch"],
}
_POSTHOG_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": "compression",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["gzip-js", "base64"]},
            "description": "`gzip-js`: the body is gzip (also recognised without it, and "
            "with `Content-Encoding: gzip`); `base64`: the form field `data` is base64.",
        }
    ],
    "requestBody": {
        "required": True,
        "description": "PostHog's capture body: one event, `{api_key, batch: [...], sent_at}` "
        "or a list of events; JSON, gzipped JSON, or the form `data=<base64 of JSON>` "
        "(`application/x-www-form-urlencoded`, or text/plain). The "
        "ingest key is the body's `api_key` (or `token`, or the first event's `api_key` / "
        "`properties.token`). `$identify` links `properties.$anon_distinct_id` to the "
        "event's `distinct_id`; `$create_alias` links `properties.alias`.",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        _POSTHOG_EVENT,
                        _POSTHOG_BATCH,
                        {"type": "array", "items": _POSTHOG_EVENT, "maxItems": MAX_BATCH_EVENTS},
                    ]
                }
            },
            "text/plain": {
                "schema": {"type": "string", "description": "JSON, or the form `data=<base64>`"}
            },
        },
    },
}

_SENSORS_FIELDS = (
    "`data` (one record: base64 of JSON, or of gzip), `data_list` (base64 of a JSON array of "
    "records), `gzip` (`1`: the base64 holds gzipped JSON), `token` (the ingest key, if not "
    "in the query)."
)
_SENSORS_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": "token",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "the merchant's ingest key",
        }
    ],
    "requestBody": {
        "required": True,
        "description": "Sensors Data's form: `data` (one record) or `data_list` (an array), "
        "base64 of JSON, or of gzip with `gzip=1`; sent as `application/x-www-form-urlencoded` "
        "or, by the mini-program SDKs, as `text/plain`. Records `track`, `track_signup` "
        "(links `original_id` to `distinct_id`) and `track_id_bind` are stored; "
        "`profile_*`, `item_*` and `track_id_unbind` are acknowledged (counted in "
        "`accepted`) and not stored.",
        # The same form text is accepted as application/x-www-form-urlencoded (the fields of
        # _SENSORS_FIELDS). Only text/plain is listed: tests/test_schemathesis.py cannot send
        # generated form bodies yet.
        "content": {
            "text/plain": {
                "schema": {
                    "type": "string",
                    "description": "the form text: " + _SENSORS_FIELDS,
                    "examples": ["data_list=W3t9XQ%3D%3D&gzip=0"],
                }
            },
        },
    },
}

_SEGMENT_MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {
            "type": "string",
            "enum": ["track", "page", "screen", "identify", "alias", "group"],
        },
        "event": {"type": "string", "maxLength": 200},
        "userId": {"type": "string", "maxLength": 200},
        "anonymousId": {"type": "string", "maxLength": 200},
        "previousId": {"type": "string", "maxLength": 200},
        "name": {"type": "string"},
        "properties": _ANY_OBJECT,
        "traits": _ANY_OBJECT,
        "context": _ANY_OBJECT,
        "timestamp": {"type": "string", "description": "ISO 8601"},
        "originalTimestamp": {"type": "string", "description": "ISO 8601"},
        "messageId": {"type": "string", "maxLength": 128, "description": "deduplicates retries"},
    },
}
_SEGMENT_DESCRIPTION = (
    "The ingest key is the body's `writeKey` or the user of HTTP Basic auth "
    "(`Authorization: Basic base64(<key>:)`). `track` is stored as its `event`, `page` as "
    "`page_view`, `screen` as `screen_view`, `identify` as `$identify` (linking `anonymousId` "
    "to `userId`), `alias` as `$create_alias` (linking `previousId` to `userId`); `group` is "
    "acknowledged and not stored. Gzip with `Content-Encoding: gzip`."
)
_SEGMENT_BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Segment's batch `{batch: [message, ...], writeKey?, sentAt}`. "
        + _SEGMENT_DESCRIPTION
        + " Single messages go to `/v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`, "
        "`/v1/alias` and `/v1/group`.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "batch": {
                            "type": "array",
                            "items": _SEGMENT_MESSAGE,
                            "maxItems": MAX_BATCH_EVENTS,
                        },
                        "writeKey": {"type": "string"},
                        "sentAt": {"type": "string", "description": "ISO 8601"},
                    },
                    "required": ["batch"],
                }
            }
        },
    }
}
_SEGMENT_MESSAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One Segment message; its type is the path's. " + _SEGMENT_DESCRIPTION,
        "content": {"application/json": {"schema": _SEGMENT_MESSAGE}},
    }
}


# ---- shared -------------------------------------------------------------------------------


async def _ingest(
    request: Request,
    session: SessionDep,
    merchant: IngestMerchant,
    batch: Batch,
    acknowledged: int = 0,
) -> dict[str, Any]:
    result = await service.ingest(
        session, merchant, batch, user_agent=request.headers.get("user-agent")
    )
    result.accepted += acknowledged
    return result.as_dict()


def _key(request: Request, *found: str | None) -> str | None:
    for key in found:
        if key:
            return key
    return request.headers.get("x-ingest-key")


# ---- PostHog ------------------------------------------------------------------------------


async def _posthog(request: Request, session: SessionDep) -> dict[str, Any]:
    body = posthog.parse(
        await read_body(request),
        content_type=request.headers.get("content-type", ""),
        compression=request.query_params.get("compression"),
    )
    key = _key(
        request,
        posthog.key_of(body),
        request.query_params.get("api_key"),
        request.query_params.get("token"),
    )
    merchant = await service.merchant_for_key(session, key)
    return await _ingest(request, session, merchant, posthog.decode(body))


@router.post(
    "/capture/", response_model=IngestOut, openapi_extra=_POSTHOG_BODY, summary="PostHog capture"
)
@router.post(
    "/capture", response_model=IngestOut, openapi_extra=_POSTHOG_BODY, include_in_schema=False
)
@router.post("/e/", response_model=IngestOut, openapi_extra=_POSTHOG_BODY, include_in_schema=False)
@router.post("/e", response_model=IngestOut, openapi_extra=_POSTHOG_BODY, include_in_schema=False)
@router.post(
    "/i/v0/e/", response_model=IngestOut, openapi_extra=_POSTHOG_BODY, include_in_schema=False
)
@router.post(
    "/i/v0/e", response_model=IngestOut, openapi_extra=_POSTHOG_BODY, include_in_schema=False
)
async def posthog_capture(request: Request, session: SessionDep) -> dict[str, Any]:
    """PostHog-compatible capture: one event or a batch (posthog-js also posts to `/e/` and
    `/i/v0/e/`, which are the same endpoint). Each bad event is rejected alone."""
    return await _posthog(request, session)


@router.post(
    "/batch/", response_model=IngestOut, openapi_extra=_POSTHOG_BODY, summary="PostHog batch"
)
@router.post(
    "/batch", response_model=IngestOut, openapi_extra=_POSTHOG_BODY, include_in_schema=False
)
async def posthog_batch(request: Request, session: SessionDep) -> dict[str, Any]:
    """PostHog-compatible batch, where the server SDKs (posthog-python, posthog-node) send.
    Each bad event is rejected alone."""
    return await _posthog(request, session)


# ---- Sensors Data -------------------------------------------------------------------------


@router.post("/sa", response_model=IngestOut, openapi_extra=_SENSORS_BODY, summary="Sensors Data")
async def sensors_ingest(request: Request, session: SessionDep) -> dict[str, Any]:
    """Sensors Data-compatible ingest (`?token=<ingest key>`). Answers 200, which the Sensors
    SDKs need to count a send as done."""
    query_key = request.query_params.get("token")
    merchant = await service.merchant_for_key(session, query_key) if query_key else None
    fields = sensors.form_fields(await read_body(request))
    records = sensors.records_of(fields)
    if merchant is None:
        key = _key(request, sensors.key_of(fields, records))
        merchant = await service.merchant_for_key(session, key)
    batch, acknowledged = sensors.decode(records)
    return await _ingest(request, session, merchant, batch, acknowledged)


# ---- Segment ------------------------------------------------------------------------------


async def _segment(
    request: Request, session: SessionDep, message_type: str | None
) -> dict[str, Any]:
    body = sensors.safe_json(await read_body(request))
    key = _key(request, segment.key_of(body, request.headers.get("authorization")))
    merchant = await service.merchant_for_key(session, key)
    batch, acknowledged = segment.decode(body, message_type)
    return await _ingest(request, session, merchant, batch, acknowledged)


@router.post(
    "/v1/batch",
    response_model=IngestOut,
    openapi_extra=_SEGMENT_BATCH_BODY,
    summary="Segment batch",
)
@router.post(
    "/v1/import",
    response_model=IngestOut,
    openapi_extra=_SEGMENT_BATCH_BODY,
    include_in_schema=False,
)
async def segment_batch(request: Request, session: SessionDep) -> dict[str, Any]:
    """Segment-compatible batch, where Segment's server SDKs send. Each bad message is
    rejected alone."""
    return await _segment(request, session, None)


def _segment_message_route(message_type: str) -> None:
    async def segment_message(request: Request, session: SessionDep) -> dict[str, Any]:
        return await _segment(request, session, message_type)

    segment_message.__name__ = f"segment_{message_type}"
    segment_message.__doc__ = f"One Segment `{message_type}` message."
    router.post(
        f"/v1/{message_type}",
        response_model=IngestOut,
        openapi_extra=_SEGMENT_MESSAGE_BODY,
        include_in_schema=False,
    )(segment_message)


for _type in ("track", "identify", "page", "screen", "alias", "group"):
    _segment_message_route(_type)
