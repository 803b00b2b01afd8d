"""growthloop's own batch format: `{"events": [{event, distinct_id, time?, properties?,
uuid?}], "api_key"?, "sent_at"?}`. `$identify` with `$anon_distinct_id`, as PostHog does,
links an anonymous id."""

from __future__ import annotations

from typing import Any

from growthloop.analytics.errors import PayloadTooLarge, UndecodableBatch
from growthloop.analytics.ingest import MAX_BATCH_EVENTS, Batch, RawEvent, Rejection


def link_of(event: Any, props: Any) -> Any:
    if event in ("$identify", "$create_alias") and isinstance(props, dict):
        return props.get("$anon_distinct_id") or props.get("alias")
    return None


def decode(body: Any) -> Batch:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise UndecodableBatch('The body must be {"events": [...]}.')
    items = body["events"]
    if len(items) > MAX_BATCH_EVENTS:
        raise PayloadTooLarge(limit_events=MAX_BATCH_EVENTS)
    batch = Batch(sent_at=body.get("sent_at"))
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            batch.rejected.append(Rejection(i, "invalid_event", "an event must be an object"))
            continue
        props = item.get("properties")
        batch.events.append(
            RawEvent(
                index=i,
                event=item.get("event"),
                distinct_id=item.get("distinct_id"),
                time=item.get("time", item.get("timestamp")),
                properties=props,
                uuid=item.get("uuid", item.get("$insert_id")),
                link_from=item.get("anonymous_id") or link_of(item.get("event"), props),
            )
        )
    return batch
