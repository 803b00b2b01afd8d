"""The one event schema every backend stores, and the columns queries use.

A row is what ingestion made of an event: the SDK's or the domain's name and properties,
plus columns extracted once at write time so that queries never parse JSON for them.
`member_id` is the member the event was resolved to when it was written (None for an
anonymous device); a link made later is applied at query time (the backends' overrides).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
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


@dataclass(slots=True)
class EventColumns:
    """One merchant's events of a request, column by column: what ingestion makes of a
    batch without an object per event, and the store writes as one Arrow table. The
    merchant and the arrival are the batch's; `link_from` (an identify's anonymous id) and
    `located` (for the consent check) are not stored."""

    merchant_id: str
    received_at: datetime
    uuid: list[str] = field(default_factory=list)
    event: list[str] = field(default_factory=list)
    distinct_id: list[str] = field(default_factory=list)
    time: list[datetime] = field(default_factory=list)
    platform: list[str] = field(default_factory=list)
    page: list[str | None] = field(default_factory=list)
    share_code: list[str | None] = field(default_factory=list)
    channel: list[str | None] = field(default_factory=list)
    amount: list[int] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)  # JSON text
    link_from: list[str | None] = field(default_factory=list)
    located: list[bool] = field(default_factory=list)  # properties name a LOCATION_KEY
    member_id: list[str | None] | None = None  # None until resolved: nobody's

    def __len__(self) -> int:
        return len(self.uuid)

    def members(self) -> list[str | None]:
        """Each event's member, None for a device linked to nobody."""
        return self.member_id if self.member_id is not None else [None] * len(self.uuid)

    def take(self, keep: list[int]) -> EventColumns:
        """The events at the positions `keep`, in that order."""
        picked: dict[str, Any] = {
            name: [getattr(self, name)[i] for i in keep] for name in _PER_EVENT
        }
        if self.member_id is not None:
            picked["member_id"] = [self.member_id[i] for i in keep]
        return EventColumns(self.merchant_id, self.received_at, **picked)

    def to_arrow(self) -> pa.Table:
        n = len(self.uuid)
        strings = pa.string()
        members = (
            pa.nulls(n, strings) if self.member_id is None else pa.array(self.member_id, strings)
        )
        return pa.Table.from_arrays(
            [
                pa.repeat(pa.scalar(self.merchant_id, strings), n),  # the batch's own: no list
                pa.array(self.uuid, strings),
                pa.array(self.event, strings),
                pa.array(self.distinct_id, strings),
                members,
                pa.array(self.time, _TS),
                pa.repeat(pa.scalar(self.received_at, _TS), n),
                pa.array(self.platform, strings),
                _optional(self.page, n),
                _optional(self.share_code, n),
                _optional(self.channel, n),
                pa.array(self.amount, pa.int64()),
                pa.array(self.properties, strings),
            ],
            schema=ARROW_SCHEMA,
        )


def _optional(values: list[str | None], n: int) -> pa.Array:
    # Most events name no page, share code or channel: a column of nulls is made whole.
    return pa.array(values, pa.string()) if any(values) else pa.nulls(n, pa.string())


# EventColumns' per-event lists: all but the batch's own values and member_id (None until
# resolved).
_BATCH_FIELDS = ("merchant_id", "received_at", "member_id")
_PER_EVENT = tuple(f.name for f in fields(EventColumns) if f.name not in _BATCH_FIELDS)


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
    # with the member's separate location consent (analytics.ingest.LOCATION_KEYS).
    "properties": _USAGE,
}
