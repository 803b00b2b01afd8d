"""The ClickHouse event store: a server (`clickhouse://`) or the in-process chdb engine
(`chdb:///path`), both driven through clickhouse-connect's client, so the SQL, the inserts
(`insert_arrow`) and the decoding of results (the Native format, with its types) are one
code path; `chdb://` only swaps the transport for the engine inside this process.

Tables, in one database (`growthloop` unless the URL names another):
- `events`: ReplacingMergeTree ORDER BY (merchant_id, time, uuid), monthly partitions, the
  columns of `rows.COLUMNS`;
- `hours`: SummingMergeTree keyed by (merchant_id, hour, distinct_id, member_id, platform)
  with the counters of `HOUR_COUNTERS`, filled by the materialized view `hours_mv` from
  every block inserted into `events` (member_id stays Nullable: `allow_nullable_key`);
- `links`: identity overrides; `append_keys`: the keys of keyed appends;
- `erasing`: the ids an erasure in progress looks for (a Memory table: never on disk).

Hours. The view aggregates each inserted block as it is written, so the aggregates are
always up to date: `roll_up()` has nothing to do (returns 0). Parts of `hours` may not be
merged yet, so the `hours` relation sums per key; its rows are unique per key (DuckDB's may
repeat a key across roll-up pieces; queries sum over them either way).

Duplicate uuids. The materialized view sees inserted blocks, not what merges later make of
them, so a duplicate must never be inserted: `append` drops it first. Within a batch the
copy received first is kept (as DuckDB's compaction keeps); against the table, a row whose
(uuid, time) is stored already is dropped (a retried event carries the time it happened, so
the lookup reads only the batch's time range of the merchant's primary key). Queries thus
never count a duplicate, right after `append`, where DuckDB counts one until a compaction
merges its segments. What slips through, two processes writing the same uuid at the same
moment against a server, is the same (merchant_id, time, uuid) and so is collapsed by
ReplacingMergeTree's merges (`compact()` forces them); `hours` keeps counting it.
A duplicate with a different time is a different row here (DuckDB's compaction keeps one).

Keys. `append(key=...)` is idempotent per merchant, as in DuckDB: a key recorded in
`append_keys` writes nothing more (for good, not for a window). The insert itself carries
`insert_deduplication_token = <merchant>/<key>` (`events` and `hours` keep a deduplication
log of `non_replicated_deduplication_window` blocks; the view's blocks derive their token
from the source's), which makes two writers racing with the same batch write it once, and
covers a crash between the insert and the key's record: the retry finds its rows stored.

Erasure (account deletion). The person's ids go into `erasing` under a random token, and
every statement refers to them through it, never as literals: a mutation's text is kept
(`system.mutations`, the table's `mutation_*.txt`) and a server logs queries, so ids
written into the SQL would outlive the erasure. `events` are mutated in place (`ALTER
TABLE ... UPDATE`, `mutations_sync = 2`). The ids are keys of `hours`, which no mutation
may change: one insert adds, per old key, a row of negated counters (the key now sums to
zero, which SummingMergeTree drops when it merges) and, per hour and platform, a row of
the same counters under the pseudonym, so the `hours` relation's sums never change.
`links` rows are deleted. `OPTIMIZE ... FINAL` then merges the partitions it rewrote. The parts
they replace are inactive and go when the server clears them (`old_parts_lifetime`, 8
minutes by default); chdb does not clear them while the process runs.

chdb: one engine per process, at one path. Stores opened on one path share it (a
module-level cache counts them and closes the engine with the last); another path while it
is open is an error. Its calls are serialized with a lock. Unlike DuckDB's files, a chdb
directory is not for several processes: `serve`, `worker` and the CLI at once need a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from growthloop.analytics.backends.base import HOUR_COUNTERS, Dialect, json_needles, with_person
from growthloop.analytics.rows import (
    ARROW_SCHEMA,
    COLUMNS,
    OVERRIDE_SCHEMA,
    EventRow,
    Override,
    overrides_to_arrow,
    to_arrow,
)

DATABASE = "growthloop"
DEDUP_WINDOW = 10_000  # inserted blocks whose deduplication tokens a table remembers
LOOKUP_CHUNK = 1_000  # rows of a batch per lookup of already-stored events
RANGE_FETCH = 4  # a chunk's time range is read whole up to this many times its rows
_MERCHANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # the same ids the DuckDB store accepts
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Settings of every `query`, so that the SQL written for DuckDB means the same here.
QUERY_SETTINGS: dict[str, Any] = {
    "join_use_nulls": 1,  # a LEFT JOIN without a match gives NULL, not '' or 0
    "aggregate_functions_null_for_empty": 1,  # sum/min/max/avg of no rows is NULL
    "prefer_column_name_to_alias": 1,  # `sum(n) AS n ... WHERE n > 0` means the column
    "cast_keep_nullable": 1,  # CAST(NULL AS ...) stays NULL
    "union_default_mode": "DISTINCT",  # a bare UNION is UNION DISTINCT
    "joined_subquery_requires_alias": 0,
    "count_distinct_implementation": "uniqExact",  # count(DISTINCT x) is exact
    "session_timezone": "UTC",
}


class ClickHouseDialect(Dialect):
    name = "clickhouse"

    def lit(self, value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def day(self, value: date) -> str:
        return f"toDate('{value.isoformat()}')"

    def instant(self, value: datetime) -> str:
        if value.tzinfo is not None:  # a naive value is taken as UTC, as DuckDB does here
            value = value.astimezone(UTC).replace(tzinfo=None)
        return f"toDateTime64('{value.isoformat(sep=' ', timespec='microseconds')}', 6, 'UTC')"

    def local_date(self, expr: str, tz: str) -> str:
        return f"toDate({expr}, {self.lit(tz)})"

    def week_start(self, date_expr: str) -> str:
        return f"toMonday({date_expr})"

    def days_between(self, a: str, b: str) -> str:
        return f"dateDiff('day', {a}, {b})"

    def seconds(self, n: int) -> str:
        return f"toIntervalSecond({int(n)})"

    def prop(self, key: str) -> str:
        """As DuckDB's json_extract_string: NULL when absent or null, a string unescaped,
        anything else as JSON text (a float that prints as an integer gets DuckDB's `.0`)."""
        k = self.lit(key.replace('"', ""))
        kind = f"JSONType(properties, {k})"
        raw = f"JSONExtractRaw(properties, {k})"
        return (
            f"multiIf({kind} = 'Null', NULL, "
            f"{kind} = 'String', JSONExtractString(properties, {k}), "
            f"{kind} = 'Double' AND match({raw}, '^-?[0-9]+$'), concat({raw}, '.0'), {raw})"
        )

    def arg_min(self, value: str, by: str) -> str:
        return f"argMin({value}, {by})"

    def arg_max(self, value: str, by: str) -> str:
        return f"argMax({value}, {by})"

    def to_text(self, expr: str) -> str:
        return f"toString({expr})"

    def null_text(self) -> str:
        return "CAST(NULL AS Nullable(String))"

    def epoch_us(self, expr: str) -> str:
        return f"toUnixTimestamp64Micro({expr})"

    def next_value(self, expr: str, partition: str, order: str) -> str:
        return (
            f"leadInFrame(toNullable({expr})) OVER (PARTITION BY {partition} ORDER BY {order} "
            "ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)"
        )


# ---- schema ----------------------------------------------------------------------------

_EVENT_NAMES = [n for n, _, _ in COLUMNS]
_HOUR_KEY = ("merchant_id", "hour", "distinct_id", "member_id", "platform")
_COUNTERS = [name for name, _ in HOUR_COUNTERS]


def _schema(db: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of each table and view, in the order they must be made."""
    window = f"non_replicated_deduplication_window = {DEDUP_WINDOW}"
    event_cols = ", ".join(f"{n} {ch}" for n, _, ch in COLUMNS)
    counter_cols = ", ".join(f"{n} Int64" for n in _COUNTERS)
    counters = ", ".join(f"toInt64({expr}) AS {name}" for name, expr in HOUR_COUNTERS)
    return [
        (
            "events",
            f"CREATE TABLE IF NOT EXISTS {db}.events ({event_cols}, "
            "INDEX uuid_bloom uuid TYPE bloom_filter(0.001) GRANULARITY 4) "
            "ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(time) "
            f"ORDER BY (merchant_id, time, uuid) SETTINGS {window}",
        ),
        (
            "hours",
            f"CREATE TABLE IF NOT EXISTS {db}.hours (merchant_id LowCardinality(String), "
            "hour DateTime64(6, 'UTC'), distinct_id String, member_id Nullable(String), "
            f"platform LowCardinality(String), {counter_cols}) "
            "ENGINE = SummingMergeTree PARTITION BY toYYYYMM(hour) "
            f"ORDER BY ({', '.join(_HOUR_KEY)}) SETTINGS allow_nullable_key = 1, {window}",
        ),
        (
            "hours_mv",
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.hours_mv TO {db}.hours AS "
            "SELECT merchant_id, toDateTime64(toStartOfHour(time), 6, 'UTC') AS hour, "
            f"distinct_id, member_id, platform, {counters} FROM {db}.events "
            f"GROUP BY {', '.join(_HOUR_KEY)}",
        ),
        (
            "links",
            f"CREATE TABLE IF NOT EXISTS {db}.links (merchant_id LowCardinality(String), "
            "distinct_id String, person_id String, member_id Nullable(String), "
            "linked_at DateTime64(6, 'UTC')) "
            "ENGINE = MergeTree ORDER BY (merchant_id, distinct_id, linked_at)",
        ),
        (
            "erasing",
            f"CREATE TABLE IF NOT EXISTS {db}.erasing (token String, "
            "kind LowCardinality(String), value String) ENGINE = Memory",
        ),
        (
            "append_keys",
            f"CREATE TABLE IF NOT EXISTS {db}.append_keys (merchant_id LowCardinality(String), "
            "key String, rows UInt64, at DateTime64(6, 'UTC') DEFAULT now64(6)) "
            "ENGINE = ReplacingMergeTree ORDER BY (merchant_id, key)",
        ),
    ]


_MAINTAINED = ("events", "hours", "links", "append_keys")


# ---- the engine ------------------------------------------------------------------------


class _Engine:
    """One clickhouse-connect client (made on first use) and the locks of the stores on it."""

    def __init__(self, connect: Callable[[], Client], *, serialize: bool) -> None:
        self._connect = connect
        self._client: Client | None = None
        self._opening = threading.Lock()
        # chdb: one handle, not to be used by two threads at once. A server: the HTTP client
        # runs concurrent queries (no session id), so only writes are serialized.
        self._calls: threading.Lock | None = threading.Lock() if serialize else None
        self.writing = threading.Lock()  # check-then-insert of appends, in this process
        self.ready: set[str] = set()  # databases whose schema was made sure of
        self.refs = 0

    def _get(self) -> Client:
        with self._opening:
            if self._client is None:
                self._client = self._connect()
            return self._client

    @contextlib.contextmanager
    def _call(self) -> Iterator[Client]:
        client = self._get()
        if self._calls is None:
            yield client
        else:
            with self._calls:
                yield client

    def command(self, sql: str, settings: dict[str, Any] | None = None) -> None:
        with self._call() as client:
            client.command(sql, settings=settings)

    def rows(
        self,
        sql: str,
        settings: dict[str, Any] | None = None,
        *,
        parameters: dict[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        with self._call() as client:
            result = client.query(sql, parameters=parameters, settings=settings)
            rows = [tuple(r) for r in result.result_rows]
            names = [t.name for t in result.column_types]
        stamps = [i for i, t in enumerate(names) if t.removeprefix("Nullable(").startswith("Date")]
        if stamps:
            rows = [_utc(row, stamps) for row in rows]
        return rows

    def insert(self, table: str, data: pa.Table, settings: dict[str, Any]) -> None:
        with self._call() as client:
            client.insert_arrow(table, data, settings=settings)

    def knows_setting(self, name: str) -> bool:
        return name in self._get().server_settings

    def close(self) -> None:
        with self._opening:
            client, self._client = self._client, None
        if client is not None:
            if self._calls is None:
                client.close()
            else:
                with self._calls:
                    client.close()


def _utc(row: tuple[Any, ...], columns: list[int]) -> tuple[Any, ...]:
    """Timestamps come back in their column's zone; DuckDB gives them in UTC."""
    out = list(row)
    for i in columns:
        value = out[i]
        if isinstance(value, datetime):
            out[i] = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return tuple(out)


_CHDB_ENGINES: dict[str, _Engine] = {}
_CHDB_GUARD = threading.Lock()


def _chdb_engine(path: Path) -> tuple[_Engine, Callable[[], None]]:
    """The process's chdb engine at `path` (opened lazily), and how to let go of it."""
    key = os.path.realpath(path)
    with _CHDB_GUARD:
        engine = _CHDB_ENGINES.get(key)
        if engine is None:
            if _CHDB_ENGINES:
                raise RuntimeError(
                    f"chdb runs one engine per process; {next(iter(_CHDB_ENGINES))} is open, "
                    f"not {key}"
                )
            Path(key).mkdir(parents=True, exist_ok=True)

            def connect() -> Client:
                return clickhouse_connect.get_client(interface="chdb", path=key, tz_mode="aware")

            engine = _Engine(connect, serialize=True)
            _CHDB_ENGINES[key] = engine
        engine.refs += 1

    def release() -> None:
        with _CHDB_GUARD:
            engine.refs -= 1
            if engine.refs > 0:
                return
            _CHDB_ENGINES.pop(key, None)
        engine.close()

    return engine, release


def _server_engine(url: str) -> tuple[_Engine, str]:
    parts = urlsplit(url)
    secure = parts.scheme == "clickhouses"
    database = unquote(parts.path.strip("/")) or DATABASE
    host = parts.hostname or "localhost"
    port = parts.port or (8443 if secure else 8123)
    username = unquote(parts.username) if parts.username else "default"
    password = unquote(parts.password) if parts.password else ""

    def connect() -> Client:
        return clickhouse_connect.get_client(
            host=host,
            port=port,
            username=username,
            password=password,
            secure=secure,
            autogenerate_session_id=False,  # concurrent queries from the store's threads
            tz_mode="aware",
        )

    return _Engine(connect, serialize=False), database


# ---- the store -------------------------------------------------------------------------


def _merchant(merchant_id: str) -> str:
    if not _MERCHANT.match(merchant_id):
        raise ValueError(f"not a merchant id: {merchant_id!r}")
    return merchant_id


def _first_per_uuid(part: pa.Table) -> pa.Table:
    """One row per uuid: the copy received first (the first of equals)."""
    if pc.count_distinct(part["uuid"]).as_py() == part.num_rows:
        return part
    order = pc.sort_indices(
        part, sort_keys=[("uuid", "ascending", "at_end"), ("received_at", "ascending", "at_end")]
    )
    uuids = part["uuid"].take(order)
    starts = pc.not_equal(uuids[1:], uuids[:-1]).combine_chunks()
    return part.take(order.filter(pa.concat_arrays([pa.array([True]), starts])))


class ClickHouseEventStore:
    name = "clickhouse"

    def __init__(
        self,
        engine: _Engine,
        *,
        database: str = DATABASE,
        release: Callable[[], None] | None = None,
    ) -> None:
        if not _IDENTIFIER.match(database):
            raise ValueError(f"not a database name: {database!r}")
        self.dialect: Dialect = ClickHouseDialect()
        self.database = database
        self._engine = engine
        self._release = release or engine.close
        self._schema_lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_url(cls, url: str, data_dir: Path) -> ClickHouseEventStore:
        """`chdb:///abs/path` (empty path: `<data_dir>/clickhouse`) for the in-process engine,
        `clickhouse[s]://user:pass@host:port/db` for a server."""
        if url.startswith("chdb://"):
            rest = url.removeprefix("chdb://").split("?", 1)[0]
            engine, release = _chdb_engine(Path(unquote(rest)) if rest else data_dir / "clickhouse")
            return cls(engine, release=release)
        if url.startswith(("clickhouse://", "clickhouses://")):
            engine, database = _server_engine(url)
            return cls(engine, database=database)
        raise ValueError(f"not a ClickHouse URL: {url!r}")

    def _table(self, name: str) -> str:
        return f"{self.database}.{name}"

    def _ensure(self) -> None:
        """Make the database, tables and view that are missing (once per engine)."""
        if self.database in self._engine.ready:
            return
        with self._schema_lock:
            if self.database in self._engine.ready:
                return
            db = self.dialect.lit(self.database)
            if not self._engine.rows(f"SELECT 1 FROM system.databases WHERE name = {db}"):
                self._engine.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            have = {
                r[0]
                for r in self._engine.rows(f"SELECT name FROM system.tables WHERE database = {db}")
            }
            for name, ddl in _schema(self.database):
                if name not in have:
                    self._engine.command(ddl)
            self._engine.ready.add(self.database)

    # ---- writes --------------------------------------------------------------------

    async def append(self, rows: list[EventRow] | pa.Table, *, key: str | None = None) -> int:
        table = rows if isinstance(rows, pa.Table) else to_arrow(rows)
        if table.num_rows == 0:
            return 0
        return await asyncio.to_thread(self._append_sync, table, key)

    def _append_sync(self, table: pa.Table, key: str | None) -> int:
        table = table.cast(ARROW_SCHEMA)
        merchants = [_merchant(m) for m in pc.unique(table["merchant_id"]).to_pylist()]
        self._ensure()
        written = 0
        with self._engine.writing:
            for merchant_id in merchants:
                part = table.filter(pc.equal(table["merchant_id"], merchant_id))
                if key is not None and self._has_key(merchant_id, key):
                    continue
                whole = _first_per_uuid(part).sort_by([("time", "ascending")])
                fresh = self._not_stored(merchant_id, whole)
                if fresh.num_rows:
                    self._engine.insert(
                        self._table("events"),
                        fresh,
                        self._insert_settings(merchant_id, key, fresh is whole),
                    )
                    written += fresh.num_rows
                if key is not None:
                    m, k = self.dialect.lit(merchant_id), self.dialect.lit(key)
                    self._engine.command(
                        f"INSERT INTO {self._table('append_keys')} (merchant_id, key, rows) "
                        f"VALUES ({m}, {k}, {fresh.num_rows})"
                    )
        return written

    def _insert_settings(self, merchant_id: str, key: str | None, whole: bool) -> dict[str, Any]:
        if key is not None and whole:
            return {"insert_deduplicate": 1, "insert_deduplication_token": f"{merchant_id}/{key}"}
        return self._no_dedup()

    def _no_dedup(self) -> dict[str, Any]:
        """Rows already filtered need no content-hash deduplication, which could drop rows
        deleted once and written again. (`deduplicate_insert` supersedes `insert_deduplicate`
        on servers that have it.)"""
        if self._engine.knows_setting("deduplicate_insert"):
            return {"deduplicate_insert": "disable"}
        return {"insert_deduplicate": 0}

    def _has_key(self, merchant_id: str, key: str) -> bool:
        m, k = self.dialect.lit(merchant_id), self.dialect.lit(key)
        return bool(
            self._engine.rows(
                f"SELECT 1 FROM {self._table('append_keys')} "
                f"WHERE merchant_id = {m} AND key = {k} LIMIT 1"
            )
        )

    def _not_stored(self, merchant_id: str, part: pa.Table) -> pa.Table:
        """The rows of a time-sorted batch whose (uuid, time) the table does not hold yet.
        Per chunk of the batch: the uuids stored in its time range, unless the range holds
        many more events than the chunk; then only those of the chunk's uuids."""
        lit, instant = self.dialect.lit, self.dialect.instant
        stored: set[str] = set()
        for start in range(0, part.num_rows, LOOKUP_CHUNK):
            chunk = part.slice(start, LOOKUP_CHUNK)
            times = chunk["time"].to_pylist()
            where = (
                f"FROM {self._table('events')} WHERE merchant_id = {lit(merchant_id)} "
                f"AND time >= {instant(times[0])} AND time <= {instant(times[-1])}"
            )
            cap = RANGE_FETCH * chunk.num_rows
            found = self._engine.rows(f"SELECT uuid {where} LIMIT {cap}")
            if len(found) == cap:
                found = self._engine.rows(
                    f"SELECT DISTINCT uuid {where} AND uuid IN {{uuids:Array(String)}}",
                    parameters={"uuids": chunk["uuid"].to_pylist()},
                )
            stored.update(r[0] for r in found)
        if not stored:
            return part
        keep = pc.invert(pc.is_in(part["uuid"], value_set=pa.array(sorted(stored), pa.string())))
        return part.filter(keep)

    async def add_overrides(self, rows: list[Override]) -> None:
        if rows:
            await asyncio.to_thread(self._overrides_sync, overrides_to_arrow(rows))

    def _overrides_sync(self, table: pa.Table) -> None:
        for merchant_id in pc.unique(table["merchant_id"]).to_pylist():
            _merchant(merchant_id)
        self._ensure()
        with self._engine.writing:
            self._engine.insert(self._table("links"), table.cast(OVERRIDE_SCHEMA), self._no_dedup())

    # ---- reads ---------------------------------------------------------------------

    def _relations(self, merchant_id: str) -> str:
        m = self.dialect.lit(merchant_id)
        events = ", ".join(f"e.{n} AS {n}" for n in _EVENT_NAMES)
        key = ", ".join(f"a.{n} AS {n}" for n in _HOUR_KEY)
        sums = ", ".join(f"sum(a.{n}) AS {n}" for n in _COUNTERS)
        hour_cols = ", ".join(f"h.{n} AS {n}" for n in (*_HOUR_KEY, *_COUNTERS))
        return (
            # The latest link as a whole: argMax of each column alone would skip a NULL
            # member_id and pair a newer person with an older member.
            "WITH ov AS (SELECT distinct_id, "
            "tupleElement(argMax((person_id, member_id), linked_at), 1) AS person_id, "
            "tupleElement(argMax((person_id, member_id), linked_at), 2) AS ov_member "
            f"FROM {self._table('links')} WHERE merchant_id = {m} GROUP BY distinct_id), "
            f"events AS ({with_person(events, self._table('events'), 'e')} "
            f"WHERE e.merchant_id = {m}), "
            f"hours_raw AS (SELECT {key}, {sums} FROM {self._table('hours')} AS a "
            f"WHERE a.merchant_id = {m} GROUP BY {', '.join(f'a.{n}' for n in _HOUR_KEY)}), "
            f"hours AS ({with_person(hour_cols, 'hours_raw', 'h')}) "
        )

    async def query(self, merchant_id: str, sql: str) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._query_sync, merchant_id, sql)

    def _query_sync(self, merchant_id: str, sql: str) -> list[tuple[Any, ...]]:
        relations = self._relations(_merchant(merchant_id))
        self._ensure()
        return self._engine.rows(relations + sql.rstrip().rstrip(";"), QUERY_SETTINGS)

    async def count(self, merchant_id: str | None = None) -> int:
        return await asyncio.to_thread(self._count_sync, merchant_id)

    async def ping(self) -> None:
        await asyncio.to_thread(self._engine.rows, "SELECT 1")

    def _count_sync(self, merchant_id: str | None) -> int:
        where = (
            f" WHERE merchant_id = {self.dialect.lit(_merchant(merchant_id))}"
            if merchant_id
            else ""
        )
        self._ensure()
        return int(self._engine.rows(f"SELECT count() FROM {self._table('events')}{where}")[0][0])

    # ---- maintenance ---------------------------------------------------------------

    async def roll_up(self) -> int:
        """Nothing to fold: `hours_mv` aggregates every block as it is inserted."""
        return 0

    async def compact(self) -> int:
        return await asyncio.to_thread(self._compact_sync)

    def _compact_sync(self) -> int:
        """Merge each partition that has more than one part (collapsing duplicate events and
        summing hours); returns how many parts were merged away."""
        self._ensure()
        before = self._parts()
        for name in _MAINTAINED:
            self._engine.command(
                f"OPTIMIZE TABLE {self._table(name)} FINAL",
                settings={"optimize_skip_merged_partitions": 1},
            )
        return max(0, before - self._parts())

    def _parts(self) -> int:
        tables = ", ".join(self.dialect.lit(t) for t in _MAINTAINED)
        rows = self._engine.rows(
            "SELECT count() FROM system.parts WHERE active "
            f"AND database = {self.dialect.lit(self.database)} AND table IN ({tables})"
        )
        return int(rows[0][0])

    # ---- erasure ---------------------------------------------------------------------

    async def erase(
        self, merchant_id: str, distinct_ids: set[str], member_id: str, pseudonym: str
    ) -> dict[str, int]:
        return await asyncio.to_thread(
            self._erase_sync, _merchant(merchant_id), set(distinct_ids), member_id, pseudonym
        )

    def _erase_sync(
        self, merchant_id: str, distinct_ids: set[str], member_id: str, pseudonym: str
    ) -> dict[str, int]:
        self._ensure()
        lit = self.dialect.lit
        m = lit(merchant_id)
        token = secrets.token_hex(8)
        helper = self._table("erasing")
        ids = {i for i in distinct_ids | {member_id} if i}
        of_token = f"FROM {helper} WHERE token = {lit(token)}"
        idset = f"(SELECT value {of_token} AND kind = 'id')"
        needles = f"(SELECT groupArray(value) {of_token} AND kind = 'needle')"
        sync = {"mutations_sync": 2}
        counts = dict.fromkeys(("events", "mentions", "hours", "links"), 0)
        with self._engine.writing:
            self._remember(token, ids)
            try:
                # The devices the store links to the person, should the database not.
                linked = self._engine.rows(
                    f"SELECT DISTINCT distinct_id FROM {self._table('links')} "
                    f"WHERE merchant_id = {m} AND (person_id IN {idset} "
                    f"OR ifNull(member_id, '') IN {idset})"
                )
                self._remember(token, {r[0] for r in linked if r[0]} - ids)
                mine = f"(distinct_id IN {idset} OR ifNull(member_id, '') IN {idset})"
                naming = f"arrayExists(x -> position(properties, x) > 0, {needles})"
                events = self._table("events")
                counts["events"] = self._count(f"FROM {events} WHERE merchant_id = {m} AND {mine}")
                counts["mentions"] = self._count(
                    f"FROM {events} WHERE merchant_id = {m} AND NOT {mine} AND {naming}"
                )
                if counts["mentions"]:
                    to = lit(json.dumps(pseudonym))
                    self._engine.command(
                        f"ALTER TABLE {events} UPDATE properties = "
                        f"arrayFold((acc, x) -> replaceAll(acc, x, {to}), {needles}, properties) "
                        f"WHERE merchant_id = {m} AND NOT {mine} AND {naming}",
                        settings=sync,
                    )
                if counts["events"]:
                    self._engine.command(
                        f"ALTER TABLE {events} UPDATE distinct_id = {lit(pseudonym)}, "
                        "member_id = NULL, properties = '{}', share_code = NULL "
                        f"WHERE merchant_id = {m} AND {mine}",
                        settings=sync,
                    )
                counts["hours"] = self._rekey_hours(m, mine, lit(pseudonym))
                links = self._table("links")
                linked_rows = (
                    f"merchant_id = {m} AND (distinct_id IN {idset} OR person_id IN {idset} "
                    f"OR ifNull(member_id, '') IN {idset})"
                )
                counts["links"] = self._count(f"FROM {links} WHERE {linked_rows}")
                if counts["links"]:
                    self._engine.command(
                        f"ALTER TABLE {links} DELETE WHERE {linked_rows}", settings=sync
                    )
                # Merge what was rewritten: only the partitions the pseudonym is in (an
                # erasure must not rewrite a whole store), and `links` (not partitioned).
                marked = (
                    f"merchant_id = {m} AND (distinct_id = {lit(pseudonym)} "
                    f"OR position(properties, {lit(json.dumps(pseudonym))}) > 0)"
                )
                if counts["events"] + counts["mentions"]:
                    self._optimize("events", marked)
                if counts["hours"]:
                    self._optimize("hours", f"merchant_id = {m} AND distinct_id = {lit(pseudonym)}")
                if counts["links"]:
                    self._engine.command(f"OPTIMIZE TABLE {links} FINAL")
            finally:
                self._engine.command(
                    f"ALTER TABLE {helper} DELETE WHERE token = {lit(token)}", settings=sync
                )
        return counts

    async def merchants(self) -> list[str]:
        def run() -> list[str]:
            self._ensure()
            rows = self._engine.rows(f"SELECT DISTINCT merchant_id FROM {self._table('events')}")
            return sorted(r[0] for r in rows)

        return await asyncio.to_thread(run)

    async def expire(self, merchant_id: str, before: datetime) -> dict[str, int]:
        return await asyncio.to_thread(self._expire_sync, _merchant(merchant_id), before)

    def _expire_sync(self, merchant_id: str, before: datetime) -> dict[str, int]:
        """Retention, as in the DuckDB store: old raw events deleted, their hourly
        aggregates re-keyed to no one (totals kept)."""
        self._ensure()
        m = self.dialect.lit(merchant_id)
        cut = self.dialect.instant(before)
        events = self._table("events")
        counts = dict.fromkeys(("events", "hours"), 0)
        with self._engine.writing:
            counts["events"] = self._count(
                f"FROM {events} WHERE merchant_id = {m} AND time < {cut}"
            )
            if counts["events"]:
                self._engine.command(
                    f"ALTER TABLE {events} DELETE WHERE merchant_id = {m} AND time < {cut}",
                    settings={"mutations_sync": 2},
                )
            old = f"(hour < {cut} AND distinct_id != 'expired')"
            counts["hours"] = self._rekey_hours(m, old, "'expired'")
            if counts["hours"]:
                self._optimize("hours", f"merchant_id = {m} AND hour < {cut}")
        return counts

    def _optimize(self, name: str, where: str) -> None:
        """`OPTIMIZE ... FINAL` of each partition of the table holding rows `where`."""
        table = self._table(name)
        found = self._engine.rows(f"SELECT DISTINCT _partition_id FROM {table} WHERE {where}")
        for (partition,) in sorted(found):
            self._engine.command(
                f"OPTIMIZE TABLE {table} PARTITION ID {self.dialect.lit(str(partition))} FINAL"
            )

    def _remember(self, token: str, ids: set[str]) -> None:
        """The ids, and how they read in JSON properties, into `erasing` (as data: no SQL
        text holds them)."""
        if not ids:
            return
        values = sorted(ids)
        needles = json_needles(values)
        data = pa.table(
            {
                "token": [token] * (len(values) + len(needles)),
                "kind": ["id"] * len(values) + ["needle"] * len(needles),
                "value": values + needles,
            }
        )
        self._engine.insert(self._table("erasing"), data, self._no_dedup())

    def _count(self, source: str) -> int:
        return int(self._engine.rows(f"SELECT count() {source}")[0][0])

    def _rekey_hours(self, m: str, mine: str, pseudonym: str) -> int:
        """One insert: the person's keys negated (they sum to zero), their counters under
        the pseudonym. Returns how many keys were re-keyed."""
        hours = self._table("hours")
        where = f"FROM {hours} WHERE merchant_id = {m} AND {mine}"
        keys = self._count(f"FROM (SELECT 1 {where} GROUP BY {', '.join(_HOUR_KEY)})")
        if not keys:
            return 0
        negated = ", ".join(f"-sum({n})" for n in _COUNTERS)
        summed = ", ".join(f"sum({n})" for n in _COUNTERS)
        self._engine.command(
            f"INSERT INTO {hours} ({', '.join((*_HOUR_KEY, *_COUNTERS))}) "
            f"SELECT {', '.join(_HOUR_KEY)}, {negated} {where} GROUP BY {', '.join(_HOUR_KEY)} "
            f"UNION ALL SELECT merchant_id, hour, {pseudonym}, NULL, platform, {summed} {where} "
            "GROUP BY merchant_id, hour, platform",
            settings=self._no_dedup(),
        )
        return keys

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._release)
