"""The one event schema every backend stores, and the columns queries use.

A row is what ingestion made of an event: the SDK's or the domain's name and properties,
plus columns extracted once at write time so that queries never parse JSON for them.
`member_id` is the member the event was resolved to when it was written (None for an
anonymous device); a link made later is applied at query time (the backends' overrides).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from growthloop.core.models import Category, Personal, Retention

# name, DuckDB type, ClickHouse type
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("merchant_id", "VARCHAR", "LowCardinality(String)"),
    ("uuid", "VARCHAR", "String"),
    ("event", "VARCHAR", "LowCardinality(String)"),
    ("distinct_id", "VARCHAR", "String"),
    ("member_id", "VARCHAR", "Nullable(String)"),
    ("time", "TIMESTAMPTZ", "DateTime64(6, 'UTC')"),
    ("received_at", "TIMESTAMPTZ", "DateTime64(6, 'UTC')"),
    ("platform", "VARCHAR", "LowCardinality(String)"),
    ("page", "VARCHAR", "Nullable(String)"),
    ("share_code", "VARCHAR", "Nullable(String)"),
    ("channel", "VARCHAR", "Nullable(String)"),
    ("amount", "BIGINT", "Int64"),
    ("properties", "VARCHAR", "String"),
)
NAMES = tuple(c[0] for c in COLUMNS)

_TS = pa.timestamp("us", tz="UTC")
ARROW_SCHEMA = pa.schema(
    [
        ("merchant_id", pa.string()),
        ("uuid", pa.string()),
        ("event", pa.string()),
        ("distinct_id", pa.string()),
        ("member_id", pa.string()),
        ("time", _TS),
        ("received_at", _TS),
        ("platform", pa.string()),
        ("page", pa.string()),
        ("share_code", pa.string()),
        ("channel", pa.string()),
        ("amount", pa.int64()),
        ("properties", pa.string()),
    ]
)

# Identity links applied at query time: the latest link of a distinct id wins.
OVERRIDE_SCHEMA = pa.schema(
    [
        ("merchant_id", pa.string()),
        ("distinct_id", pa.string()),
        ("person_id", pa.string()),
        ("member_id", pa.string()),
        ("linked_at", _TS),
    ]
)

PLATFORMS = ("wechat", "alipay", "douyin", "app", "web", "server")


@dataclass(slots=True)
class EventRow:
    merchant_id: str
    uuid: str
    event: str
    distinct_id: str
    member_id: str | None
    time: datetime
    received_at: datetime
    platform: str
    page: str | None
    share_code: str | None
    channel: str | None
    amount: int
    properties: str  # JSON text


@dataclass(slots=True)
class Override:
    merchant_id: str
    distinct_id: str
    person_id: str
    member_id: str | None
    linked_at: datetime


def to_arrow(rows: list[EventRow]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in NAMES}
    for row in rows:
        for name in NAMES:
            columns[name].append(getattr(row, name))
    return pa.Table.from_pydict(columns, schema=ARROW_SCHEMA)


def overrides_to_arrow(rows: list[Override]) -> pa.Table:
    names = OVERRIDE_SCHEMA.names
    return pa.Table.from_pydict(
        {n: [getattr(r, n) for r in rows] for n in names}, schema=OVERRIDE_SCHEMA
    )


# The event store's part of the data map (the SQL columns declare theirs on the models).
_USAGE = Personal(
    Category.PROFILE,
    purpose="usage statistics to improve the service",
    basis="consent",
    retention=Retention.EVENTS,
    purpose_zh="统计使用情况，用于改进服务",
)
EVENT_DATA_MAP: dict[str, Personal | None] = {
    "merchant_id": None,
    "uuid": None,
    "event": None,
    "distinct_id": Personal(
        Category.IDENTIFIER,
        purpose="count visitors as people across devices",
        basis="consent",
        retention=Retention.EVENTS,
        purpose_zh="跨设备统计访客人数",
    ),
    "member_id": None,
    "time": None,
    "received_at": None,
    "platform": None,
    "page": _USAGE,
    "share_code": None,
    "channel": _USAGE,
    "amount": None,
    # Free-form SDK properties: whatever the integrator tracks; location keys are kept only
    # with the member's separate location consent (analytics.service.LOCATION_KEYS).
    "properties": _USAGE,
}
