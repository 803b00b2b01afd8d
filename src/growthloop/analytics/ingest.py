"""From what an SDK sent to a stored row: validation, time correction, extraction.

Every wire format (native, PostHog, Sensors Data, Segment) decodes its body into
`RawEvent`s; `normalize` then applies the same rules to all of them, event by event, so
that one bad event is rejected alone (`Rejection`, reported back) and never the batch.
"""

from __future__ import annotations

import json
import re
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from growthloop.analytics.rows import PLATFORMS, EventColumns

MAX_EVENT_BYTES = 32 * 1024  # one event's properties, as JSON
MAX_BATCH_BYTES = 5 * 1024 * 1024  # a request body, after decompression
MAX_BATCH_EVENTS = 10_000
MAX_NAME = 200
MAX_ID = 200
MAX_TEXT = 512
# A client clock this far off is corrected from the batch's sent_at; smaller offsets are
# network latency and queueing, and correcting them would only add noise.
SKEW_THRESHOLD = timedelta(minutes=10)
FUTURE_LIMIT = timedelta(days=1)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

# Crawlers, headless browsers and monitors: dropped on every endpoint.
BOT_PATTERN = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|Baiduspider|Sogou|YisouSpider|Bytespider|360Spider|"
    r"HeadlessChrome|PhantomJS|facebookexternalhit|Lighthouse|Pingdom|UptimeRobot|"
    r"Go-http-client|okhttp/[0-9.]+ \(probe\)",
    re.IGNORECASE,
)
# Command-line and scripting clients: what integrators' scripts send to the native endpoint
# (stored there), and never an SDK (dropped on the SDK-compatible endpoints).
SCRIPT_PATTERN = re.compile(r"curl/|Wget/|HTTPie/|python-requests", re.IGNORECASE)

# Which SDK library names stand for which end, when the event does not say.
LIB_PLATFORMS = {
    "posthog-js": "web",
    "web": "web",
    "js": "web",
    "javascript": "web",
    "posthog-python": "server",
    "python": "server",
    "analytics-python": "server",
    "analytics-node": "server",
    "posthog-node": "server",
    "java": "server",
    "miniprogram": "wechat",
    "wechat": "wechat",
    "alipay": "alipay",
    "douyin": "douyin",
    "bytedance": "douyin",
    "posthog-ios": "app",
    "posthog-android": "app",
    "posthog-react-native": "app",
    "posthog-flutter": "app",
    "ios": "app",
    "android": "app",
    "react native": "app",
    "flutter": "app",
}


def library_hint(library: Any, guess: Callable[[str], str | None]) -> str | None:
    """A key of LIB_PLATFORMS for an SDK's library name: the name itself (lower-cased) when
    it is one, else what the format's `guess` makes of it; None for no name."""
    if not isinstance(library, str) or not library:
        return None
    name = library.lower()
    return name if name in LIB_PLATFORMS else guess(name)


PAGE_KEYS = ("page", "$pathname", "$screen_name", "$url_path", "$current_url", "$url", "path")
SHARE_KEYS = ("share_code", "$share_code", "s")
CHANNEL_KEYS = ("utm_source", "$utm_source", "channel", "$latest_utm_source")
UA_KEYS = ("$useragent", "$user_agent", "$raw_user_agent", "user_agent")
_PLATFORM_SET = frozenset(PLATFORMS)  # `platform` values stored as they are
# Properties that place a person; stored only for members who consented to `location`
# (analytics.service removes them otherwise).
LOCATION_KEYS = (
    "$latitude",
    "$longitude",
    "latitude",
    "longitude",
    "$geoip_latitude",
    "$geoip_longitude",
    "$geoip_city_name",
    "location",
    "$location",
    "lat",
    "lng",
)


@dataclass(slots=True)
class RawEvent:
    """One event as a format decoded it; nothing is checked yet."""

    index: int
    event: Any
    distinct_id: Any
    time: Any = None
    properties: Any = None
    uuid: Any = None
    # An identify/alias/login: the anonymous id whose events now belong to distinct_id.
    link_from: Any = None
    platform: str | None = None  # the format's own hint (its library name)
    user_agent: str | None = None


@dataclass
class Rejection:
    index: int
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "message": self.message}


@dataclass
class Batch:
    """A decoded request: its events, what was rejected while decoding, and its clock."""

    events: list[RawEvent] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    sent_at: Any = None
    linked: set[tuple[str, str]] = field(default_factory=set)

    def link_once(self, link: Any, distinct_id: Any) -> Any:
        """An SDK's link of `link` to `distinct_id` (its `link_from`), or None when the batch
        linked the two already: the same identify repeated in a session is linked once."""
        if isinstance(link, str) and isinstance(distinct_id, str):
            if (link, distinct_id) in self.linked:
                return None
            self.linked.add((link, distinct_id))
        return link


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (naive means UTC), epoch seconds or milliseconds; None if unreadable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and 0 < len(value) <= 64:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def _first(props: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        found = _text(props.get(key))
        if found:
            return found
    return None


def _platform(props: dict[str, Any], hint: str | None) -> str:
    for key in ("platform", "$platform"):
        value = props.get(key)
        if isinstance(value, str) and value.lower() in PLATFORMS:
            return value.lower()
    if hint in PLATFORMS:
        return hint
    for candidate in (hint, props.get("$lib")):
        if isinstance(candidate, str):
            mapped = LIB_PLATFORMS.get(candidate.lower())
            if mapped:
                return mapped
    return "web"


def _amount(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**13:
        return value
    return 0


def _bot_agent(agent: str, scripts: bool) -> bool:
    return bool(BOT_PATTERN.search(agent) or (not scripts and SCRIPT_PATTERN.search(agent)))


def is_bot(
    user_agent: str | None, props: dict[str, Any] | None = None, *, scripts: bool = False
) -> bool:
    """Whether the request's or the event's user agent is a bot's; `scripts`: command-line
    clients (curl, wget, HTTPie, python-requests) are people's scripts, not bots."""
    if user_agent and _bot_agent(user_agent, scripts):
        return True
    if props and not props.keys().isdisjoint(UA_KEYS):
        for key in UA_KEYS:
            agent = props.get(key)
            if isinstance(agent, str) and _bot_agent(agent, scripts):
                return True
    return False


def clock_offset(sent_at: Any, received_at: datetime) -> timedelta:
    """How far the client's clock is behind ours, when that is large enough to correct."""
    sent = parse_time(sent_at)
    if sent is None:
        return timedelta(0)
    offset = received_at - sent
    return offset if abs(offset) > SKEW_THRESHOLD else timedelta(0)


def encode_properties(props: dict[str, Any]) -> str | None:
    """Compact JSON text, or None when `props` cannot be JSON (NaN, ±Infinity). orjson
    writes what it can, several times faster; the rest (non-finite numbers, integers past
    64 bits, nesting past its depth, values that are not JSON types) goes through the
    standard library, which decides as it always has."""
    try:
        return orjson.dumps(props).decode()
    except orjson.JSONEncodeError:
        pass
    try:
        text = json.dumps(
            props, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
        )
    except (TypeError, ValueError, RecursionError):
        return None
    return text if text.isascii() or _unicode(text) else None


def _unicode(text: str) -> bool:
    """Whether `text` (not ASCII: callers test that first, at C speed) is valid Unicode: a
    lone surrogate (which the standard library reads from a `\\ud800` escape) can be
    neither stored nor sent back as UTF-8."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# What normalize_batch answers for an event it rejects: (code, message).
_BAD_NAME = ("invalid_event", f"event must be a name of 1-{MAX_NAME} chars of valid Unicode")
_BAD_DISTINCT = (
    "invalid_distinct_id",
    f"distinct_id must be text of 1-{MAX_ID} chars of valid Unicode",
)
_NOT_OBJECT = ("invalid_properties", "properties must be an object")
_BAD_JSON = ("invalid_properties", "properties must be JSON of valid Unicode")
_TOO_LARGE = ("event_too_large", f"an event's properties must be under {MAX_EVENT_BYTES} bytes")
_BAD_TIME = ("invalid_time", "time must be ISO 8601 or epoch")
_TOO_EARLY = ("invalid_time", "time is before 2000-01-01")
_BAD_UUID = ("invalid_uuid", "the event id must be text of 1-128 chars of valid Unicode")


def normalize_batch(
    events: list[RawEvent],
    merchant_id: str,
    received_at: datetime,
    offset: timedelta,
    *,
    scripts: bool = False,
) -> tuple[EventColumns, list[Rejection], int]:
    """The batch's stored columns, its rejected events and how many came from bots (dropped:
    counted as accepted, never stored). One pass with no object per event: this loop is
    most of ingestion's cost, so the usual shapes (a string time in ISO 8601, a known
    `platform`, no page or channel keys) take inline paths and the helpers decide the rest."""
    out = EventColumns(merchant_id, received_at)
    rejected: list[Rejection] = []
    dropped = 0
    uuids, names, distincts, times = out.uuid, out.event, out.distinct_id, out.time
    platforms, pages, shares, channels = out.platform, out.page, out.share_code, out.channel
    amounts, encoded_props, links, located = out.amount, out.properties, out.link_from, out.located
    latest = received_at + FUTURE_LIMIT
    fromisoformat = datetime.fromisoformat
    for raw in events:
        props = raw.properties if raw.properties is not None else {}
        agent = raw.user_agent
        if (agent and _bot_agent(agent, scripts)) or (
            isinstance(props, dict)
            and not props.keys().isdisjoint(UA_KEYS)
            and is_bot(None, props, scripts=scripts)
        ):
            dropped += 1
            continue
        name = raw.event
        if (
            not isinstance(name, str)
            or len(name) > MAX_NAME
            or not (name := name.strip())
            or not (name.isascii() or _unicode(name))
        ):
            rejected.append(Rejection(raw.index, *_BAD_NAME))
            continue
        distinct = raw.distinct_id
        if isinstance(distinct, int) and not isinstance(distinct, bool):
            distinct = str(distinct)
        if (
            not isinstance(distinct, str)
            or not distinct.strip()
            or len(distinct) > MAX_ID
            or not (distinct.isascii() or _unicode(distinct))
        ):
            rejected.append(Rejection(raw.index, *_BAD_DISTINCT))
            continue
        if not isinstance(props, dict):
            rejected.append(Rejection(raw.index, *_NOT_OBJECT))
            continue
        encoded = encode_properties(props)
        if encoded is None:
            rejected.append(Rejection(raw.index, *_BAD_JSON))
            continue
        if len(encoded) > MAX_EVENT_BYTES // 4 and len(encoded.encode()) > MAX_EVENT_BYTES:
            rejected.append(Rejection(raw.index, *_TOO_LARGE))
            continue
        when = raw.time
        if when is None:
            at = received_at
        else:
            parsed = None
            if type(when) is str and len(when) <= 64:
                try:  # noqa: SIM105 (suppress() costs a context manager an event)
                    parsed = fromisoformat(when)
                except ValueError:
                    pass
            if parsed is None:
                parsed = parse_time(when)  # epoch numbers, "Z", spaces around
                if parsed is None:
                    rejected.append(Rejection(raw.index, *_BAD_TIME))
                    continue
            zone = parsed.tzinfo
            try:  # year 1 with a positive offset, or 9999 moved by a clock correction
                if zone is UTC:
                    at = parsed
                elif zone is None:
                    at = parsed.replace(tzinfo=UTC)
                else:
                    at = parsed.astimezone(UTC)
                if offset:
                    at += offset
            except OverflowError:
                rejected.append(Rejection(raw.index, *_BAD_TIME))
                continue
        if at > latest:
            at = received_at  # a clock far in the future: the arrival is the best we know
        elif at < EARLIEST:
            rejected.append(Rejection(raw.index, *_TOO_EARLY))
            continue
        event_id = raw.uuid
        if event_id is None:
            event_id = str(uuidlib.uuid4())
        else:
            if isinstance(event_id, int) and not isinstance(event_id, bool):
                event_id = str(event_id)
            if (
                not isinstance(event_id, str)
                or not 0 < len(event_id) <= 128
                or not (event_id.isascii() or _unicode(event_id))
            ):
                rejected.append(Rejection(raw.index, *_BAD_UUID))
                continue
        distinct = distinct.strip()
        link = raw.link_from
        if link is not None:
            if isinstance(link, int) and not isinstance(link, bool):
                link = str(link)
            link = link.strip() if isinstance(link, str) else None
            if (
                not link
                or len(link) > MAX_ID
                or link == distinct
                or not (link.isascii() or _unicode(link))
            ):
                link = None
        uuids.append(event_id)
        names.append(name)
        distincts.append(distinct)
        times.append(at)
        if props:
            keys = props.keys()
            platform = props.get("platform")
            if type(platform) is str and platform in _PLATFORM_SET:
                platforms.append(platform)
            else:
                platforms.append(_platform(props, raw.platform))
            pages.append(None if keys.isdisjoint(PAGE_KEYS) else _first(props, PAGE_KEYS))
            shares.append(None if keys.isdisjoint(SHARE_KEYS) else _first(props, SHARE_KEYS))
            channels.append(None if keys.isdisjoint(CHANNEL_KEYS) else _first(props, CHANNEL_KEYS))
            amount = props.get("amount")
            amounts.append(0 if amount is None else _amount(amount))
            located.append(not keys.isdisjoint(LOCATION_KEYS))
        else:
            platforms.append(_platform(props, raw.platform))
            pages.append(None)
            shares.append(None)
            channels.append(None)
            amounts.append(0)
            located.append(False)
        encoded_props.append(encoded)
        links.append(link)
    return out, rejected, dropped
