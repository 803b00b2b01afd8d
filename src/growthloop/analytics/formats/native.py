"""growthloop's own batch format: `{"events": [{event, distinct_id, time?, properties?,
uuid?}], "api_key"?, "sent_at"?}`. `$identify` with `$anon_distinct_id`, as PostHog does,
links an anonymous id."""

from __future__ import annotations

from typing import Any

from growthloop.analytics.errors import UndecodableBatch
from growthloop.analytics.formats import new_batch, objects
from growthloop.analytics.ingest import Batch, RawEvent


def link_of(event: Any, props: Any) -> Any:
    if event in ("$identify", "$create_alias") and isinstance(props, dict):
        return props.get("$anon_distinct_id") or props.get("alias")
    return None


def decode(body: Any) -> Batch:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise UndecodableBatch('The body must be {"events": [...]}.')
    items = body["events"]
    batch = new_batch(items, body.get("sent_at"))
    for i, item in objects(batch, items, "an event"):
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
