"""Segment's tracking API: `POST /v1/batch` `{batch: [message, ...], writeKey?, sentAt}`, and
the single-message endpoints `/v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`,
`/v1/alias`, `/v1/group` (a message, its `type` implied by the path).

Messages, by `type`:
- `track`: the event `event` with `properties`;
- `page` / `screen`: the events `page_view` / `screen_view`, with `properties` plus the
  message's `name` (and `category`) when the properties lack them;
- `identify`: the event `$identify` with `traits` as its properties; `anonymousId` is linked
  to `userId`;
- `alias`: the event `$create_alias`; `previousId` is linked to `userId`;
- `group`: acknowledged (counted in `accepted`) and not stored.
The distinct id is `userId`, else `anonymousId`; a message carrying both links the
anonymous id to the user. `messageId` deduplicates retries; the time is `timestamp`, else
`originalTimestamp`; the batch's `sentAt` (else the first message's) corrects a skewed
clock. `context.library.name` is the platform hint, `context.userAgent` the user agent, and
`context.campaign.source` fills `utm_source` when the properties have no channel.
Key: the body's `writeKey`, else the user of HTTP Basic auth (`<write key>:`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from growthloop.analytics.errors import UndecodableBatch
from growthloop.analytics.formats import new_batch, objects
from growthloop.analytics.ingest import (
    CHANNEL_KEYS,
    Batch,
    RawEvent,
    Rejection,
    library_hint,
)

MESSAGE_TYPES = frozenset({"track", "page", "screen", "identify", "alias", "group"})
EVENT_NAMES = {
    "page": "page_view",
    "screen": "screen_view",
    "identify": "$identify",
    "alias": "$create_alias",
}
APP_LIBS = ("ios", "swift", "android", "kotlin", "react-native", "flutter", "xamarin", "unity")
WEB_LIBS = ("analytics.js", "analytics-next", "browser", "web")


def _items(body: Any, message_type: str | None) -> tuple[list[Any], Any]:
    if not isinstance(body, dict):
        raise UndecodableBatch("The body must be a JSON object.")
    if message_type is not None:
        return [{**body, "type": message_type}], body.get("sentAt")
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise UndecodableBatch('The body must be {"batch": [...]}.')
    sent_at = body.get("sentAt")
    if sent_at is None and batch and isinstance(batch[0], dict):
        sent_at = batch[0].get("sentAt")
    return batch, sent_at


def basic_auth_user(header: str | None) -> str | None:
    """The user of `Authorization: Basic base64(user:password)`; None for anything else."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user = decoded.partition(":")[0]
    return user or None


def key_of(body: Any, authorization: str | None) -> str | None:
    if isinstance(body, dict):
        key = body.get("writeKey")
        if isinstance(key, str) and key:
            return key
    return basic_auth_user(authorization)


def platform_hint(library: Any) -> str | None:
    """A key of LIB_PLATFORMS for `context.library.name`."""
    return library_hint(library, _guess_platform)


def _guess_platform(name: str) -> str | None:
    if any(part in name for part in APP_LIBS):
        return "ios"
    if any(part in name for part in WEB_LIBS):
        return "web"
    if name.startswith(("analytics-", "@segment/")):  # analytics-go, -java, -ruby, ...
        return "analytics-python"
    return None


def _text(value: Any) -> Any:
    """An id as sent; empty text counts as absent."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def decode(body: Any, message_type: str | None = None) -> tuple[Batch, int]:
    """The events of a batch (or of one message, with the path's `message_type`), and how
    many messages were acknowledged without being events (group calls)."""
    items, sent_at = _items(body, message_type)
    batch = new_batch(items, sent_at)
    skipped = 0
    for i, msg in objects(batch, items, "a message"):
        kind = msg.get("type")
        if kind not in MESSAGE_TYPES:
            batch.rejected.append(
                Rejection(i, "invalid_event", f"unknown message type {str(kind)[:40]!r}")
            )
            continue
        if kind == "group":
            skipped += 1
            continue
        user = _text(msg.get("userId"))
        anonymous = _text(msg.get("anonymousId"))
        if kind == "alias":
            link = _text(msg.get("previousId"))
            distinct = user
        else:
            distinct = user if user is not None else anonymous
            link = anonymous if user is not None else None

        props = msg.get("traits") if kind == "identify" else msg.get("properties")
        context = msg.get("context")
        if not isinstance(context, dict):
            context = {}
        if kind == "identify" and props is None:
            props = context.get("traits")
        if props is None:
            props = {}
        if isinstance(props, dict):
            props = dict(props)
            if kind in ("page", "screen"):
                for field in ("name", "category"):
                    if isinstance(msg.get(field), str) and msg[field]:
                        props.setdefault(field, msg[field])
            campaign = context.get("campaign")
            source = campaign.get("source") if isinstance(campaign, dict) else None
            if isinstance(source, str) and source and not any(k in props for k in CHANNEL_KEYS):
                props["utm_source"] = source
        library = context.get("library")
        agent = context.get("userAgent")
        batch.events.append(
            RawEvent(
                index=i,
                event=EVENT_NAMES.get(
                    kind, "$create_alias" if kind == "alias" else msg.get("event")
                ),
                distinct_id=distinct,
                time=msg.get("timestamp") or msg.get("originalTimestamp"),
                properties=props,
                uuid=msg.get("messageId"),
                link_from=batch.link_once(link, distinct),
                platform=platform_hint(library.get("name")) if isinstance(library, dict) else None,
                user_agent=agent if isinstance(agent, str) else None,
            )
        )
    return batch, skipped


__all__ = ["basic_auth_user", "decode", "key_of", "platform_hint"]
