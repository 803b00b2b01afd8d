"""Sensors Data (神策) ingestion: `POST /sa?token=<ingest key>`.

The body is a form, `application/x-www-form-urlencoded` or, from the mini-program SDKs, the
same text sent as `text/plain`; it is parsed here from the raw bytes so either works. Field
`data` holds one record and `data_list` an array of them, each base64 of JSON, or of gzipped
JSON when the form says `gzip=1` (any other `gzip` value, or none, means plain base64;
gzipped data is still recognised there by its magic bytes). A '+' of the base64 that arrived
as ' ' (a form body sent without percent-encoding) is restored.

Records, by `type`:
- `track`, `track_signup`, `track_id_bind` are events: `event`, `distinct_id`, `time` (epoch
  ms), `properties`; the platform hint is `lib.$lib` (or `properties.$lib`).
- `track_signup` links `original_id` (the anonymous id) to `distinct_id` (the login id).
- `login_id` (or `identities.$identity_login_id`) is the distinct id when present, and the
  record's `anonymous_id` (or an anonymous identity: `$identity_anonymous_id`,
  `$identity_cookie_id`, ...) is linked to it.
- `profile_*`, `item_*` and `track_id_unbind` are not events: they are acknowledged (counted
  in `accepted`) and not stored; growthloop keeps no Sensors user or item profiles.
Dedup: `_track_id` is only a short random number in the web SDKs, so an event's id is a
hash of (`_track_id`, distinct id, time, event); without `_track_id` (the server SDKs) it
is a hash of the whole record but `_flush_time`, so a resent record is still recognised.
The batch's clock (for skew) is the first record's `_flush_time`, when the SDK sends it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs

from growthloop.analytics.errors import UndecodableBatch
from growthloop.analytics.formats import b64_json, new_batch, objects, parse_json
from growthloop.analytics.ingest import Batch, RawEvent, Rejection, library_hint

EVENT_TYPES = frozenset({"track", "track_signup", "track_id_bind"})
ACKNOWLEDGED_TYPES = frozenset({"track_id_unbind"})
ACKNOWLEDGED_PREFIXES = ("profile_", "item_")
LOGIN_IDENTITY = "$identity_login_id"
ANONYMOUS_IDENTITIES = (
    "$identity_anonymous_id",
    "$identity_cookie_id",
    "$identity_android_id",
    "$identity_android_uuid",
    "$identity_ios_idfv",
    "$identity_ios_uuid",
)
MAX_FORM_FIELDS = 64
SERVER_LIBS = ("java", "node", "golang", "go", "php", "ruby", "c++", "cpp", "csharp", "dotnet")


def form_fields(raw: bytes) -> dict[str, str]:
    """A form body's fields (the first value of each), whatever its Content-Type said."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UndecodableBatch("The form body is not UTF-8.") from exc
    try:
        parsed = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError as exc:
        raise UndecodableBatch("The form body has too many fields.") from exc
    return {name: values[0] for name, values in parsed.items() if values}


def safe_json(data: bytes | str) -> Any:
    try:
        return parse_json(data)
    except RecursionError as exc:
        raise UndecodableBatch("The body nests too deeply.") from exc


def safe_b64_json(text: str, *, gzipped: bool | None = None) -> Any:
    """base64 (of gzip) of JSON; a '+' that a form turned into ' ' is restored."""
    try:
        return b64_json(text.strip().replace(" ", "+"), gzipped=gzipped)
    except RecursionError as exc:
        raise UndecodableBatch("The data nests too deeply.") from exc


def records_of(fields: dict[str, str]) -> list[Any]:
    gzipped = True if fields.get("gzip", "").strip() == "1" else None
    if "data_list" in fields:
        value = safe_b64_json(fields["data_list"], gzipped=gzipped)
    elif "data" in fields:
        value = safe_b64_json(fields["data"], gzipped=gzipped)
    else:
        raise UndecodableBatch("The form must carry a `data` or `data_list` field.")
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise UndecodableBatch("`data` must be a record and `data_list` a list of records.")


def key_of(fields: dict[str, str], records: list[Any]) -> str | None:
    if fields.get("token"):
        return fields["token"]
    for record in records[:1]:
        if isinstance(record, dict) and isinstance(record.get("token"), str):
            return record["token"] or None
    return None


def platform_hint(lib: Any) -> str | None:
    """A key of LIB_PLATFORMS for the record's `$lib`."""
    return library_hint(lib, _guess_platform)


def _guess_platform(name: str) -> str | None:
    if "alipay" in name:
        return "alipay"
    if "byte" in name or "douyin" in name or name.startswith("tt"):
        return "douyin"
    if "mini" in name or "wechat" in name or "weixin" in name:
        return "wechat"
    if name in SERVER_LIBS:
        return "java"
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value.strip() else None


def _identity(record: dict[str, Any]) -> tuple[Any, Any]:
    """(distinct id, the id linked to it) of an event record."""
    raw = record.get("identities")
    identities: dict[str, Any] = raw if isinstance(raw, dict) else {}
    distinct = record.get("distinct_id")
    if record.get("type") == "track_signup":
        return distinct, record.get("original_id")
    login = _text(record.get("login_id")) or _text(identities.get(LOGIN_IDENTITY))
    anonymous = _text(record.get("anonymous_id")) or next(
        (v for v in (_text(identities.get(k)) for k in ANONYMOUS_IDENTITIES) if v), None
    )
    if login:
        plain = _text(distinct)
        return login, anonymous or (plain if plain and plain != login else None)
    # ID-Mapping 3 server SDKs write "<identity key>+<value>" when there is no login id.
    if isinstance(distinct, str) and distinct.startswith("$identity_") and "+" in distinct:
        key, _, value = distinct.partition("+")
        if identities.get(key) == value:
            distinct = value
    return (distinct if distinct is not None else anonymous), None


def _event_id(record: dict[str, Any], distinct: Any) -> str | None:
    track_id = record.get("_track_id")
    try:
        if isinstance(track_id, int | str) and not isinstance(track_id, bool):
            basis = json.dumps(
                [str(track_id), distinct, record.get("time"), record.get("event")], default=str
            )
        else:
            rest = {k: v for k, v in record.items() if k not in ("_flush_time", "_track_id")}
            basis = json.dumps(rest, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        return None
    return "sa-" + hashlib.sha256(basis.encode()).hexdigest()[:40]


def decode(records: list[Any]) -> tuple[Batch, int]:
    """The events of the records, and how many records were acknowledged without being
    events (profiles, items, unbinds)."""
    first = records[0] if records and isinstance(records[0], dict) else {}
    flushed = first.get("_flush_time")
    batch = new_batch(records, flushed if isinstance(flushed, int | float) else None)
    skipped = 0
    for i, record in objects(batch, records, "a record"):
        kind = record.get("type")
        if kind is None and "event" in record:
            kind = "track"
        if isinstance(kind, str) and (
            kind in ACKNOWLEDGED_TYPES or kind.startswith(ACKNOWLEDGED_PREFIXES)
        ):
            skipped += 1
            continue
        if kind not in EVENT_TYPES:
            batch.rejected.append(
                Rejection(i, "invalid_event", f"unknown record type {str(kind)[:40]!r}")
            )
            continue
        distinct, link = _identity(record)
        props = record.get("properties")
        lib = record.get("lib")
        hint = platform_hint(lib.get("$lib")) if isinstance(lib, dict) else None
        if hint is None and isinstance(props, dict):
            hint = platform_hint(props.get("$lib"))
        batch.events.append(
            RawEvent(
                index=i,
                event=record.get("event"),
                distinct_id=distinct,
                time=record.get("time"),
                properties=props,
                uuid=_event_id(record, distinct),
                link_from=batch.link_once(link, distinct),
                platform=hint,
            )
        )
    return batch, skipped


__all__ = ["decode", "form_fields", "key_of", "records_of", "safe_b64_json", "safe_json"]
