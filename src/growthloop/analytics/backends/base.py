"""The event-store protocol and the SQL each backend spells its own way.

Queries are written once (`analytics/queries.py`) against three relations every backend
provides in front of them:
- `events`: the merchant's raw events with `person` (the member, the linked person, or the
  device itself) and `mem` (the member id, or NULL for an anonymous person);
- `hours`: hourly aggregates per (hour, distinct id, platform) with the same `person` and
  `mem`: n (events), reg (sign-ups), paid (paid orders), gmv, refunds, refunded (fen).
Only a handful of expressions differ between DuckDB and ClickHouse; `Dialect` holds them.
The relations come as a `WITH` list in front of the query, so a query that needs CTEs of
its own continues that list (`, mine AS (...) SELECT ...`) instead of starting a new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Protocol

import pyarrow as pa

from growthloop.analytics.events import MEMBER_REGISTERED, ORDER_PAID, ORDER_REFUNDED
from growthloop.analytics.rows import EventRow, Override

# What one raw event adds to each counter of the hourly aggregates but `n` (one per event).
EVENT_COUNTERS: tuple[tuple[str, str], ...] = (
    ("reg", f"CASE WHEN event = '{MEMBER_REGISTERED}' THEN 1 ELSE 0 END"),
    ("paid", f"CASE WHEN event = '{ORDER_PAID}' THEN 1 ELSE 0 END"),
    ("gmv", f"CASE WHEN event = '{ORDER_PAID}' THEN amount ELSE 0 END"),
    ("refunds", f"CASE WHEN event = '{ORDER_REFUNDED}' THEN 1 ELSE 0 END"),
    ("refunded", f"CASE WHEN event = '{ORDER_REFUNDED}' THEN amount ELSE 0 END"),
)
# The counters of the hourly aggregates, as (name, expression over raw events).
HOUR_COUNTERS: tuple[tuple[str, str], ...] = (
    ("n", "count(*)"),
    *((name, f"sum({expr})") for name, expr in EVENT_COUNTERS),
)


def with_person(columns: str, source: str, alias: str) -> str:
    """A SELECT of `columns` of `source` (as `alias`) with the `person` and `mem` each row
    stands for: by the latest link in `ov`, the relation each backend defines first, else by
    the row's own member or device."""
    return (
        f"SELECT {columns}, coalesce(ov.person_id, {alias}.member_id, {alias}.distinct_id) "
        f"AS person, coalesce(ov.ov_member, {alias}.member_id) AS mem FROM {source} AS {alias} "
        f"LEFT JOIN ov ON ov.distinct_id = {alias}.distinct_id"
    )


MENTION_MIN_LENGTH = 8  # shorter ids are too likely to be some other property's value


def json_needles(ids: Iterable[str]) -> list[str]:
    """How each id reads as a JSON string in event properties (as ingestion writes them, and
    ASCII-escaped): what an erasure looks for in other events' properties. Ids shorter than
    `MENTION_MIN_LENGTH` are left out: `"1"` or `"alice"` may well be anyone's value."""
    found: set[str] = set()
    for value in ids:
        if len(value) < MENTION_MIN_LENGTH:
            continue
        found.add(json.dumps(value, ensure_ascii=False))
        found.add(json.dumps(value))
    return sorted(found)


class Dialect:
    """DuckDB's spelling; ClickHouse overrides what differs."""

    name = "duckdb"

    def lit(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def day(self, value: date) -> str:
        return f"DATE '{value.isoformat()}'"

    def instant(self, value: datetime) -> str:
        return f"TIMESTAMPTZ '{value.isoformat()}'"

    def local_date(self, expr: str, tz: str) -> str:
        return f"CAST(timezone({self.lit(tz)}, {expr}) AS DATE)"

    def week_start(self, date_expr: str) -> str:
        """The Monday of the ISO week of a date."""
        return f"CAST(date_trunc('week', {date_expr}) AS DATE)"

    def days_between(self, a: str, b: str) -> str:
        """Whole days from date a to date b."""
        return f"date_diff('day', {a}, {b})"

    def seconds(self, n: int) -> str:
        return f"INTERVAL {int(n)} SECOND"

    def prop(self, key: str) -> str:
        """A property of the event as text (NULL when absent)."""
        path = "$." + '"' + key.replace('"', "") + '"'
        return f"json_extract_string(properties, {self.lit(path)})"

    def arg_min(self, value: str, by: str) -> str:
        return f"arg_min({value}, {by})"

    def arg_max(self, value: str, by: str) -> str:
        return f"arg_max({value}, {by})"

    def to_text(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def null_text(self) -> str:
        return "CAST(NULL AS VARCHAR)"

    def epoch_us(self, expr: str) -> str:
        return f"epoch_us({expr})"

    def next_value(self, expr: str, partition: str, order: str) -> str:
        """The next row's `expr` within the partition (NULL on the last row)."""
        return f"lead({expr}) OVER (PARTITION BY {partition} ORDER BY {order})"


class EventStore(Protocol):
    name: str
    dialect: Dialect

    async def append(self, rows: list[EventRow] | pa.Table, *, key: str | None = None) -> int:
        """Write rows durably; returns how many were written. With `key`, a second append
        under the same key writes nothing (an outbox batch flushed again after a crash)."""
        ...

    async def add_overrides(self, rows: list[Override]) -> None:
        """Identity links: the events of `distinct_id` belong to `person_id` from now on."""
        ...

    async def query(self, merchant_id: str, sql: str) -> list[tuple[Any, ...]]:
        """Run a query over the merchant's `events` and `hours` relations."""
        ...

    async def roll_up(self) -> int:
        """Fold events written since the last call into the hourly aggregates."""
        ...

    async def compact(self) -> int:
        """Merge small pieces; returns how many were merged away."""
        ...

    async def erase(
        self, merchant_id: str, distinct_ids: set[str], member_id: str, pseudonym: str
    ) -> dict[str, int]:
        """Account deletion: the merchant's events of the person (`distinct_ids`, the ids
        linked to them, or `member_id`) lose the person, in place and for good: their
        distinct id becomes `pseudonym` (one anonymous visitor), member id, properties and
        share code go; event, time, platform, page, channel and amount stay, so every
        aggregate figure stays right. Hourly aggregates are re-keyed the same way, the
        person's identity links are deleted, and the ids are replaced by `pseudonym` in
        other events' properties that name them (a JSON string equal to an id). Returns
        counts of what was rewritten."""
        ...

    async def merchants(self) -> list[str]:
        """The merchants with events in the store."""
        ...

    async def expire(self, merchant_id: str, before: datetime) -> dict[str, int]:
        """Retention: delete raw events before `before`; keep their hourly aggregates as
        totals with no person."""
        ...

    async def count(self, merchant_id: str | None = None) -> int: ...

    async def ping(self) -> None:
        """Raises unless the store can take appends now (readiness, `GET /readyz`)."""
        ...

    async def close(self) -> None: ...
