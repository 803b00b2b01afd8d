"""The columnar normaliser keeps the per-event rules. `normalize_batch` makes a batch's
columns in one loop with inline paths for the usual shapes; `reference` below is the rule
book written plainly, one event at a time, as ingestion applied it before. Whatever the
events, both must keep, reject and drop the same ones and store the same values."""

from __future__ import annotations

import uuid as uuidlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from growthloop.analytics.ingest import (
    CHANNEL_KEYS,
    EARLIEST,
    FUTURE_LIMIT,
    LOCATION_KEYS,
    MAX_EVENT_BYTES,
    MAX_ID,
    MAX_NAME,
    PAGE_KEYS,
    SHARE_KEYS,
    RawEvent,
    _amount,
    _first,
    _platform,
    encode_properties,
    is_bot,
    normalize_batch,
    parse_time,
)

RECEIVED = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)


def _text_ok(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def reference(raw: RawEvent, offset: timedelta, scripts: bool) -> Any:
    """'dropped', a rejection code, or the stored values, for one event."""
    props_seen = raw.properties if isinstance(raw.properties, dict) else None
    if is_bot(raw.user_agent, props_seen, scripts=scripts):
        return "dropped"
    name = raw.event
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or not _text_ok(name):
        return "invalid_event"
    distinct = raw.distinct_id
    if isinstance(distinct, int) and not isinstance(distinct, bool):
        distinct = str(distinct)
    if (
        not isinstance(distinct, str)
        or not distinct.strip()
        or len(distinct) > MAX_ID
        or not _text_ok(distinct)
    ):
        return "invalid_distinct_id"
    props = raw.properties if raw.properties is not None else {}
    if not isinstance(props, dict):
        return "invalid_properties"
    encoded = encode_properties(props)
    if encoded is None:
        return "invalid_properties"
    if len(encoded.encode()) > MAX_EVENT_BYTES:
        return "event_too_large"
    if raw.time is None:
        at = RECEIVED
    else:
        parsed = parse_time(raw.time)
        if parsed is None:
            return "invalid_time"
        try:
            at = parsed.astimezone(UTC) + offset
        except OverflowError:
            return "invalid_time"
    if at > RECEIVED + FUTURE_LIMIT:
        at = RECEIVED
    if at < EARLIEST:
        return "invalid_time"
    event_id = raw.uuid
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        event_id = str(event_id)
    if event_id is not None and (
        not isinstance(event_id, str) or not 0 < len(event_id) <= 128 or not _text_ok(event_id)
    ):
        return "invalid_uuid"
    link = raw.link_from
    if isinstance(link, int) and not isinstance(link, bool):
        link = str(link)
    link = link.strip() if isinstance(link, str) and 0 < len(link.strip()) <= MAX_ID else None
    if link is not None and (link == distinct.strip() or not _text_ok(link)):
        link = None
    return {
        "uuid": event_id,
        "event": name.strip(),
        "distinct_id": distinct.strip(),
        "time": at,
        "platform": _platform(props, raw.platform),
        "page": _first(props, PAGE_KEYS),
        "share_code": _first(props, SHARE_KEYS),
        "channel": _first(props, CHANNEL_KEYS),
        "amount": _amount(props.get("amount")),
        "properties": encoded,
        "link_from": link,
        "located": not props.keys().isdisjoint(LOCATION_KEYS),
    }


surrogate = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
words = st.sampled_from(["view", " view ", "order.paid", "加购", "", "   "]) | st.text(max_size=6)
texts = (
    words
    | st.integers(-5, 10**20)
    | st.booleans()
    | st.none()
    | st.just("x" * 201)
    | st.just("y" * 129)
    | surrogate.map(lambda s: "a" + s)
    | st.lists(st.integers(), max_size=2)
)
zones = st.sampled_from(
    [UTC, None, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
)
moments = st.builds(
    lambda at, zone: at.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 1, 1)),  # noqa: DTZ001 (naive bounds, zones applied after)
    zones,
)
times = (
    st.none()
    | moments.map(lambda at: at.isoformat())
    | moments.map(lambda at: at.isoformat().replace("+00:00", "Z"))
    | moments.map(lambda at: f"  {at.isoformat()} ")
    | moments.map(lambda at: at.isoformat(sep=" "))
    | moments.map(lambda at: at.date().isoformat())
    | st.integers(-(10**14), 10**14)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.sampled_from(["yesterday", "", "2026-13-01T00:00:00", "1" * 70])
    | st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59Z", "9999-12-31"])
)
values = (
    st.none()
    | st.booleans()
    | st.integers(-(10**15), 10**15)
    | st.floats(allow_nan=True)
    | words
    | surrogate
)
keys = st.sampled_from(
    [
        "platform",
        "$platform",
        "$lib",
        "amount",
        *PAGE_KEYS,
        *SHARE_KEYS,
        *CHANNEL_KEYS,
        *LOCATION_KEYS[:3],
        "$useragent",
        "user_agent",
        "other",
    ]
)
platform_values = st.sampled_from(
    ["wechat", "WeChat", "app", "web", "server", "douyin", "tv", "posthog-js", "Android"]
)
agents = st.sampled_from(
    [None, None, None, None, "", "Mozilla/5.0", "curl/8.5.0", "Googlebot/2.1", "python-requests"]
)
properties = (
    st.none()
    | st.builds(
        lambda usual, odd: {**usual, **odd},
        st.fixed_dictionaries(
            {},
            optional={
                "platform": platform_values,
                "$lib": platform_values,
                "page": words,
                "amount": st.integers(-(10**14), 10**14) | st.booleans() | st.floats(),
                "latitude": st.floats(-90, 90),
            },
        ),
        st.dictionaries(keys, values | platform_values | agents, max_size=4),
    )
    | st.just({"blob": "x" * (MAX_EVENT_BYTES + 1)})
    | st.just({"blob": "茶" * (MAX_EVENT_BYTES // 3 + 1)})
    | st.just({"blob": "🍵" * (MAX_EVENT_BYTES // 4 + 1)})
    | st.just(["not", "an", "object"])
)


def mostly(usual: list[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The usual values four times as often as the odd ones, so that most events are kept
    and the rules for kept events (links, columns) are tried as often as the rejections."""
    return st.one_of(*[st.sampled_from(usual) for _ in range(4)], odd)


raw_events = st.tuples(
    mostly(["view", " view ", "order.paid", "加购"], texts),
    mostly(["d1", "d-same", " d-same", 42], texts),
    times,
    properties,
    mostly([None, "e1", "e2", 12], texts),
    mostly([None, "d-same", "d-same ", "d2", 7], texts),
    st.none() | platform_values,
    agents,
)


@settings(max_examples=600, deadline=None)
@given(
    st.lists(raw_events, max_size=12),
    st.sampled_from([timedelta(0), timedelta(hours=2), -timedelta(hours=1)]),
    st.booleans(),
)
def test_the_batch_keeps_the_rules_of_one_event(
    specs: list[tuple[Any, ...]], offset: timedelta, scripts: bool
) -> None:
    raws = [
        RawEvent(i, *spec[:6], platform=spec[6], user_agent=spec[7]) for i, spec in enumerate(specs)
    ]
    columns, rejected, dropped = normalize_batch(raws, "m1", RECEIVED, offset, scripts=scripts)
    expected = [reference(raw, offset, scripts) for raw in raws]

    assert dropped == expected.count("dropped")
    assert [(r.index, r.code) for r in rejected] == [
        (i, e) for i, e in enumerate(expected) if isinstance(e, str) and e != "dropped"
    ]
    kept = [e for e in expected if isinstance(e, dict)]
    assert len(columns) == len(kept)
    assert columns.member_id is None
    for position, want in enumerate(kept):
        got = {name: getattr(columns, name)[position] for name in want}
        if want["uuid"] is None:  # the server names an event the SDK did not
            assert uuidlib.UUID(got.pop("uuid")).version == 4
            want = {k: v for k, v in want.items() if k != "uuid"}
        assert got == want
    table = columns.to_arrow()  # what the batcher hands the store, for every kept event
    assert table.num_rows == len(kept)


def test_take_keeps_every_column_in_step() -> None:
    raws = [
        RawEvent(i, "view", f"d{i}", properties={"page": f"/p{i}", "lat": 1}, uuid=f"e{i}")
        for i in range(4)
    ]
    columns, _, _ = normalize_batch(raws, "m1", RECEIVED, timedelta(0))
    columns.member_id = [None, "m-1", None, "m-3"]
    picked = columns.take([3, 1])
    assert picked.uuid == ["e3", "e1"]
    assert picked.page == ["/p3", "/p1"]
    assert picked.member_id == ["m-3", "m-1"]
    assert picked.located == [True, True]
    assert picked.to_arrow().column("member_id").to_pylist() == ["m-3", "m-1"]


def test_a_link_to_itself_or_to_nothing_is_no_link() -> None:
    links = [None, "", "  ", "d1", " d1 ", "d2", 7, "x" * (MAX_ID + 1), "a\ud800"]
    raws = [RawEvent(i, "view", "d1", link_from=link) for i, link in enumerate(links)]
    columns, rejected, _ = normalize_batch(raws, "m1", RECEIVED, timedelta(0))
    assert not rejected
    assert columns.link_from == [None, None, None, None, None, "d2", "7", None, None]
