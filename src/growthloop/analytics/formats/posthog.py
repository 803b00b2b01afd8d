"""PostHog's capture API: `POST /capture/` (`/e/`, `/i/v0/e/`) and `POST /batch/`.

What arrives:
- one event `{api_key, event, distinct_id, properties, timestamp, uuid}` (posthog-js), or
- a batch `{api_key, batch: [event, ...], sent_at}` (posthog-python, posthog-node, ...), or
- a bare JSON list of events;
- as JSON (gzipped with `Content-Encoding: gzip` or `?compression=gzip-js`), or as the form
  body `data=<base64 of JSON>` that posthog-js sends in some modes. lz64 (LZ-string) is not
  decoded: it is refused with `invalid_batch`.

Per event: `distinct_id` (or `properties.distinct_id` / `$distinct_id`); `timestamp` (or
`properties.$time`); `uuid` (or `properties.$insert_id`) deduplicates retries; `$lib` is the
platform hint; a top-level `$set` / `$set_once` is kept under `properties`, as PostHog does.
Identity: `$identify` links `properties.$anon_distinct_id` to the event's distinct id;
`$create_alias` (and `$merge_dangerously`) links `properties.alias` to it.
Key: the body's `api_key` or `token`, else the first event's `api_key` / `token` /
`properties.token`, as PostHog accepts.
"""

from __future__ import annotations

from typing import Any

from growthloop.analytics.errors import UndecodableBatch
from growthloop.analytics.formats import new_batch, objects
from growthloop.analytics.formats.sensors import form_fields, safe_b64_json, safe_json
from growthloop.analytics.ingest import Batch, RawEvent, library_hint

# Events that link an id to the event's distinct id, and the property holding that id.
LINK_PROPERTY = {
    "$identify": "$anon_distinct_id",
    "$create_alias": "alias",
    "$merge_dangerously": "alias",
}


def parse(raw: bytes, *, content_type: str = "", compression: str | None = None) -> Any:
    """The request body (already gunzipped by `read_body`) as JSON."""
    if compression and compression.lower() == "lz64":
        raise UndecodableBatch(
            "lz64 compression is not supported; send gzip-js, base64 or plain JSON."
        )
    head = raw.lstrip()[:1]
    if head in (b"{", b"["):
        return safe_json(raw)
    if "x-www-form-urlencoded" in content_type.lower() or raw.startswith(b"data="):
        data = form_fields(raw).get("data")
        if data is None:
            raise UndecodableBatch("A form body must carry the events in its `data` field.")
        if data.lstrip()[:1] in ("{", "["):
            return safe_json(data)
        return safe_b64_json(data)
    return safe_json(raw)


def _items(body: Any) -> tuple[list[Any], Any]:
    if isinstance(body, list):
        return body, None
    if isinstance(body, dict):
        batch = body.get("batch")
        if isinstance(batch, list):
            return batch, body.get("sent_at")
        if "event" in body:
            return [body], body.get("sent_at")
    raise UndecodableBatch('The body must be an event, {"batch": [...]} or a list of events.')


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def key_of(body: Any) -> str | None:
    if isinstance(body, dict):
        key = _text(body.get("api_key")) or _text(body.get("token"))
        if key:
            return key
    try:
        items, _ = _items(body)
    except UndecodableBatch:
        return None
    first = items[0] if items and isinstance(items[0], dict) else None
    if first is None:
        return None
    props = first.get("properties")
    return (
        _text(first.get("api_key"))
        or _text(first.get("token"))
        or (_text(props.get("token")) if isinstance(props, dict) else None)
    )


def platform_hint(lib: Any) -> str | None:
    """A key of LIB_PLATFORMS for the event's `$lib`."""
    return library_hint(lib, _guess_platform)


def _guess_platform(name: str) -> str | None:
    if "js" in name or "web" in name:
        return "web"
    if name.startswith("posthog-"):  # posthog-go, -ruby, -php, -java, -dotnet, ...
        return "posthog-python"
    return None


def decode(body: Any) -> Batch:
    items, sent_at = _items(body)
    batch = new_batch(items, sent_at)
    for i, item in objects(batch, items, "an event"):
        props = item.get("properties")
        if props is None:
            props = {}
        distinct = item.get("distinct_id")
        link = None
        if isinstance(props, dict):
            if distinct is None:
                distinct = props.get("distinct_id", item.get("$distinct_id"))
            for top in ("$set", "$set_once"):
                if isinstance(item.get(top), dict):
                    props.setdefault(top, item[top])
            event = item.get("event")
            prop = LINK_PROPERTY.get(event) if isinstance(event, str) else None
            link = props.get(prop) if prop else None
        batch.events.append(
            RawEvent(
                index=i,
                event=item.get("event"),
                distinct_id=distinct,
                time=item.get("timestamp")
                or (props.get("$time") if isinstance(props, dict) else None),
                properties=props,
                uuid=item.get("uuid")
                or (props.get("$insert_id") if isinstance(props, dict) else None),
                link_from=batch.link_once(link, distinct),
                platform=platform_hint(props.get("$lib")) if isinstance(props, dict) else None,
            )
        )
    return batch


__all__ = ["decode", "key_of", "parse", "platform_hint"]
