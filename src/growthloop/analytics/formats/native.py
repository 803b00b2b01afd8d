"""growthloop's own batch format: `{"events": [{event, distinct_id, time?, properties?,
uuid?}], "api_key"?, "sent_at"?}`. `$identify` with `$anon_distinct_id`, as PostHog does,
links an anonymous id."""

from __future__ import annotations

from typing import Any

from growthloop.analytics.errors import UndecodableBatch
from growthloop.analytics.formats import new_batch, objects
from growthloop.analytics.ingest import Batch, RawEvent

LINKING = ("$identify", "$create_alias")


def link_of(event: Any, props: Any) -> Any:
    if event in LINKING and isinstance(props, dict):
        return props.get("$anon_distinct_id") or props.get("alias")
    return None


def decode(body: Any) -> Batch:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise UndecodableBatch('The body must be {"events": [...]}.')
    items = body["events"]
    batch = new_batch(items, body.get("sent_at"))
    append = batch.events.append
    for i, item in objects(batch, items, "an event"):
        name = item.get("event")
        props = item.get("properties")
        append(
            RawEvent(
                i,
                name,
                item.get("distinct_id"),
                item["time"] if "time" in item else item.get("timestamp"),
                props,
                item["uuid"] if "uuid" in item else item.get("$insert_id"),
                item.get("anonymous_id") or (link_of(name, props) if name in LINKING else None),
            )
        )
    return batch
