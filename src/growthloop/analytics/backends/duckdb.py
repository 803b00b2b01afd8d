"""The embedded event store: Parquet segments in the data dir, queried with DuckDB.

Why files and not one DuckDB database file: DuckDB lets one process open a database for
writing, and `serve`, `worker` and every CLI command must be able to use the store at the
same time. Immutable Parquet segments can be added by any process and read by all.

Layout, per merchant (`<root>/<merchant_id>/`):
- `seg/<seq>[-<key>].parquet`: events, each append one segment, sorted by time;
- `roll/<upto>.parquet`: hourly aggregates of every segment with seq <= upto;
- `links/<seq>.parquet`: identity overrides (distinct id -> person).

A sequence number orders everything; it is taken under an exclusive lock on
`<root>/.write.lock`, which every writer holds for the few milliseconds of its write, so
the roll-up's watermark is exact: segments above it are the tail that queries aggregate
themselves. Files are only ever removed (compaction) under an exclusive lock on
`<root>/.files.lock`; queries hold it shared while they read.

A segment is written to a temporary name, fsynced, renamed and its directory fsynced
before `append` returns: an acknowledged event survives a power cut.

Erasure (account deletion) rewrites, under the write lock, every piece of the merchant that
holds the person, each under its own name (a segment keeps its append key), staged first
and swapped in together under the exclusive files lock: a query sees the pieces before or
after, never a mix. `os.replace` drops the old files; temporary files left by a writer that
died are removed too, so no copy of the person's rows stays in the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from growthloop.analytics.backends.base import HOUR_COUNTERS, Dialect, json_needles, with_person
from growthloop.analytics.rows import (
    ARROW_SCHEMA,
    COLUMNS,
    NAMES,
    OVERRIDE_SCHEMA,
    EventRow,
    Override,
    overrides_to_arrow,
    to_arrow,
)

_SEQ = re.compile(r"^(\d{12})(?:-([A-Za-z0-9_.:-]+))?\.parquet$")
COMPACT_AT = 16  # pieces on one side of the watermark before they are merged
BIG_SEGMENT_ROWS = 2_000_000  # segments this large are left alone by compaction
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
_MERCHANT_DIR = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pieces(directory: Path) -> list[tuple[int, str | None, Path]]:
    """(seq, key, path) of the finished pieces in a directory, by seq."""
    found = []
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as it:
        for entry in it:
            m = _SEQ.match(entry.name)
            if m:
                found.append((int(m.group(1)), m.group(2), Path(entry.path)))
    found.sort()
    return found


def _names(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


def _last_seq(directory: Path) -> int:
    """The highest seq of the finished pieces in a directory (0: none), from the names
    alone: an append reads it, and a Path per piece of a busy merchant's directory cost
    more than the append's own rows."""
    return max((int(m.group(1)) for n in _names(directory) if (m := _SEQ.match(n))), default=0)


def _stage(table: pa.Table, final: Path) -> Path:
    """Write a piece under a name no reader lists, and fsync it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuidlib.uuid4().hex}.tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=256_000)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _write_parquet(table: pa.Table, final: Path) -> None:
    os.replace(_stage(table, final), final)
    _fsync_dir(final.parent)


def _remove_temporary(mdir: Path) -> int:
    """Delete the pieces a writer staged and never renamed (it died): under the write lock no
    one is staging, and such a file may hold rows an erasure must not leave behind."""
    removed = 0
    for sub in ("seg", "roll", "links"):
        with contextlib.suppress(FileNotFoundError), os.scandir(mdir / sub) as it:
            for entry in it:
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
    return removed


def _like(table: pa.Table, path: Path) -> pa.Table:
    """A rewritten piece with the columns and types of the piece it replaces."""
    schema = pq.read_schema(path).remove_metadata()
    return table.select(schema.names).cast(schema)


def _files_sql(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _empty(columns: list[tuple[str, str]]) -> str:
    cols = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in columns)
    return f"(SELECT {cols} WHERE false)"


_EVENT_COLUMNS = [(n, t) for n, t, _ in COLUMNS]
_HOUR_COLUMNS = [
    ("merchant_id", "VARCHAR"),
    ("hour", "TIMESTAMPTZ"),
    ("distinct_id", "VARCHAR"),
    ("member_id", "VARCHAR"),
    ("platform", "VARCHAR"),
    *((name, "BIGINT") for name, _ in HOUR_COUNTERS),
]
_HOUR_KEY = "merchant_id, hour, distinct_id, member_id, platform"
_LINK_COLUMNS = [
    ("merchant_id", "VARCHAR"),
    ("distinct_id", "VARCHAR"),
    ("person_id", "VARCHAR"),
    ("member_id", "VARCHAR"),
    ("linked_at", "TIMESTAMPTZ"),
]


def _hourly_select(source: str) -> str:
    counters = ", ".join(f"CAST({expr} AS BIGINT) AS {name}" for name, expr in HOUR_COUNTERS)
    return (
        f"SELECT merchant_id, date_trunc('hour', time) AS hour, distinct_id, member_id, "
        f"platform, {counters} FROM {source} GROUP BY ALL"
    )


class DuckDBEventStore:
    name = "duckdb"

    def __init__(self, root: Path, *, threads: int | None = None) -> None:
        self.root = root
        self.dialect = Dialect()
        root.mkdir(parents=True, exist_ok=True)
        self._write_lock = root / ".write.lock"
        self._files_lock = root / ".files.lock"
        self._con = duckdb.connect(config={"threads": threads or max(1, os.cpu_count() or 1)})
        self._con.execute("SET TimeZone = 'UTC'")
        self._local = threading.Lock()  # one writer thread of this process at a time
        to_arrow([])  # pyarrow loads its pandas glue on first use: at start, not mid-request

    # ---- paths ---------------------------------------------------------------------

    def _merchant_dir(self, merchant_id: str) -> Path:
        if not _MERCHANT_DIR.match(merchant_id):
            raise ValueError(f"not a merchant id: {merchant_id!r}")
        return self.root / merchant_id

    async def merchants(self) -> list[str]:
        return await asyncio.to_thread(self._merchants)

    def _merchants(self) -> list[str]:
        with os.scandir(self.root) as it:
            return sorted(e.name for e in it if e.is_dir() and _MERCHANT_DIR.match(e.name))

    def _next_seq(self, mdir: Path) -> int:
        return max(_last_seq(mdir / sub) for sub in ("seg", "roll", "links")) + 1

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self._local, _flock(self._write_lock, fcntl.LOCK_EX):
            yield

    # ---- writes --------------------------------------------------------------------

    async def append(self, rows: list[EventRow] | pa.Table, *, key: str | None = None) -> int:
        if len(rows) == 0:
            return 0
        # Off the event loop, the conversion to Arrow too: it is a few µs a row.
        return await asyncio.to_thread(self._append_sync, rows, key)

    def _append_sync(self, rows: list[EventRow] | pa.Table, key: str | None) -> int:
        if key is not None and not _KEY.match(key):
            raise ValueError(f"an append key is 1-80 of [A-Za-z0-9_.:-]: {key!r}")
        table = (rows if isinstance(rows, pa.Table) else to_arrow(rows)).cast(ARROW_SCHEMA)
        merchants = pa.compute.unique(table["merchant_id"]).to_pylist()
        written = 0
        with self._writing():
            for merchant_id in merchants:
                part = table.filter(pa.compute.equal(table["merchant_id"], merchant_id))
                mdir = self._merchant_dir(merchant_id)
                if key is not None and self._has_key(mdir, key):
                    continue
                part = part.sort_by([("time", "ascending")])
                name = f"{self._next_seq(mdir):012d}" + (f"-{key}" if key else "")
                _write_parquet(part, mdir / "seg" / f"{name}.parquet")
                written += part.num_rows
        return written

    def _has_key(self, mdir: Path, key: str) -> bool:
        suffix = f"-{key}.parquet"
        for n in _names(mdir / "seg"):
            if n.endswith(suffix) and (m := _SEQ.match(n)) and m.group(2) == key:
                return True
        keys = mdir / "keys.log"
        return keys.exists() and key in keys.read_text().split()

    async def add_overrides(self, rows: list[Override]) -> None:
        if rows:
            await asyncio.to_thread(self._overrides_sync, overrides_to_arrow(rows))

    def _overrides_sync(self, table: pa.Table) -> None:
        with self._writing():
            for merchant_id in pa.compute.unique(table["merchant_id"]).to_pylist():
                part = table.filter(pa.compute.equal(table["merchant_id"], merchant_id))
                mdir = self._merchant_dir(merchant_id)
                _write_parquet(part, mdir / "links" / f"{self._next_seq(mdir):012d}.parquet")

    # ---- reads ---------------------------------------------------------------------

    def _relations(self, mdir: Path) -> str:
        # Roll-ups first: a roll-up written meanwhile only moves segments out of the tail.
        rolls = _pieces(mdir / "roll")
        pieces = _pieces(mdir / "seg")
        links = [p for _, _, p in _pieces(mdir / "links")]
        watermark = rolls[-1][0] if rolls else 0
        segs = [p for _, _, p in pieces]
        tail = [p for s, _, p in pieces if s > watermark]
        raw = f"read_parquet({_files_sql(segs)})" if segs else _empty(_EVENT_COLUMNS)
        link_src = f"read_parquet({_files_sql(links)})" if links else _empty(_LINK_COLUMNS)
        parts = []
        if rolls:
            parts.append(f"SELECT * FROM read_parquet({_files_sql([p for _, _, p in rolls])})")
        if tail:
            parts.append(_hourly_select(f"read_parquet({_files_sql(tail)})"))
        hours_raw = " UNION ALL ".join(parts) if parts else f"SELECT * FROM {_empty(_HOUR_COLUMNS)}"
        return (
            # The latest link as a whole (arg_max per column would skip a NULL member_id).
            "WITH ov AS (SELECT distinct_id, person_id, member_id AS ov_member FROM "
            f"{link_src} QUALIFY row_number() OVER (PARTITION BY distinct_id "
            "ORDER BY linked_at DESC) = 1), "
            f"events AS ({with_person('e.*', raw, 'e')}), "
            f"hours_raw AS ({hours_raw}), "
            f"hours AS ({with_person('h.*', 'hours_raw', 'h')}) "
        )

    async def query(self, merchant_id: str, sql: str) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._query_sync, merchant_id, sql)

    def _query_sync(self, merchant_id: str, sql: str) -> list[tuple[Any, ...]]:
        mdir = self._merchant_dir(merchant_id)
        with _flock(self._files_lock, fcntl.LOCK_SH):
            cursor = self._con.cursor()
            try:
                return cursor.execute(self._relations(mdir) + sql).fetchall()
            finally:
                cursor.close()

    async def count(self, merchant_id: str | None = None) -> int:
        merchants = [merchant_id] if merchant_id else self._merchants()
        total = 0
        for m in merchants:
            rows = await self.query(m, "SELECT count(*) FROM events")
            total += int(rows[0][0])
        return total

    async def ping(self) -> None:
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise OSError(f"the event store's folder {self.root} is not writable")

    # ---- maintenance ---------------------------------------------------------------

    def _each_merchant(self, step: Callable[[Path], int]) -> int:
        """`step` on every merchant's folder, under the write lock; the sum of its counts."""
        with self._writing():
            return sum(step(self._merchant_dir(m)) for m in self._merchants())

    async def roll_up(self) -> int:
        return await asyncio.to_thread(self._roll_up_sync)

    def _roll_up_sync(self) -> int:
        return self._each_merchant(self._roll_up_merchant)

    def _roll_up_merchant(self, mdir: Path) -> int:
        """Fold the segments newer than the last roll-up into hourly totals; how many."""
        rolls = _pieces(mdir / "roll")
        watermark = rolls[-1][0] if rolls else 0
        tail = [(s, p) for s, _, p in _pieces(mdir / "seg") if s > watermark]
        if not tail:
            return 0
        table = self._run(_hourly_select(f"read_parquet({_files_sql([p for _, p in tail])})"))
        _write_parquet(table, mdir / "roll" / f"{tail[-1][0]:012d}.parquet")
        return len(tail)

    async def compact(self) -> int:
        return await asyncio.to_thread(self._each_merchant, self._compact_merchant)

    def _compact_merchant(self, mdir: Path) -> int:
        steps = (self._compact_rollups, self._compact_segments, self._compact_links)
        return sum(step(mdir) for step in steps)

    @contextlib.contextmanager
    def _staging(self) -> Iterator[list[tuple[Path | None, Path]]]:
        """Collects (staged piece, the piece it replaces; None: delete that piece), and at the
        end of the block puts them all in place at once while no query reads; the staged
        files are removed if the block fails."""
        staged: list[tuple[Path | None, Path]] = []
        try:
            yield staged
            if staged:
                with _flock(self._files_lock, fcntl.LOCK_EX):
                    for tmp, final in staged:
                        if tmp is None:
                            final.unlink(missing_ok=True)
                        else:
                            os.replace(tmp, final)
        finally:
            for tmp, _ in staged:
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
        for directory in {final.parent for _, final in staged}:
            _fsync_dir(directory)

    def _swap(self, new: pa.Table, target: Path, old: list[Path]) -> None:
        """Stage the merged piece, then put it in place of what it replaces while no query
        reads, so that a query sees either the pieces or their merge, never both."""
        staged = _stage(new, target)
        with _flock(self._files_lock, fcntl.LOCK_EX):
            for path in old:
                if path != target:
                    path.unlink(missing_ok=True)
            os.replace(staged, target)
        _fsync_dir(target.parent)

    def _run(self, sql: str) -> pa.Table:
        cursor = self._con.cursor()
        try:
            return cursor.sql(sql).to_arrow_table()
        finally:
            cursor.close()

    def _compact_rollups(self, mdir: Path) -> int:
        rolls = _pieces(mdir / "roll")
        if len(rolls) < COMPACT_AT:
            return 0
        sums = ", ".join(f"CAST(sum({n}) AS BIGINT) AS {n}" for n, _ in HOUR_COUNTERS)
        files = _files_sql([p for _, _, p in rolls])
        table = self._run(f"SELECT {_HOUR_KEY}, {sums} FROM read_parquet({files}) GROUP BY ALL")
        self._swap(table, rolls[-1][2], [p for _, _, p in rolls])
        return len(rolls) - 1

    def _compact_segments(self, mdir: Path) -> int:
        segs = _pieces(mdir / "seg")
        rolls = _pieces(mdir / "roll")
        watermark = rolls[-1][0] if rolls else 0
        merged = 0
        # Never merge across the watermark: the merged piece takes the highest seq of its
        # inputs, and rolled-up events must stay below it.
        sides = ([s for s in segs if s[0] <= watermark], [s for s in segs if s[0] > watermark])
        for rolled, side in zip((True, False), sides, strict=True):
            small = [s for s in side if pq.ParquetFile(s[2]).metadata.num_rows < BIG_SEGMENT_ROWS]
            if len(small) < COMPACT_AT:
                continue
            keys = [k for _, k, _ in small if k]
            if keys:
                with (mdir / "keys.log").open("a") as f:
                    f.write("\n".join(keys) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            files = _files_sql([p for _, _, p in small])
            # Duplicates that slipped past ingestion (a retry after the dedup window) go here,
            # while they are still in the tail: once rolled up they stay, so that the hourly
            # aggregates keep agreeing with the events.
            dedup = (
                ""
                if rolled
                else "QUALIFY row_number() OVER (PARTITION BY uuid ORDER BY received_at) = 1 "
            )
            table = self._run(f"SELECT * FROM read_parquet({files}) {dedup}ORDER BY time")
            target = mdir / "seg" / f"{small[-1][0]:012d}.parquet"
            self._swap(table.cast(ARROW_SCHEMA), target, [p for _, _, p in small])
            merged += len(small) - 1
        return merged

    def _compact_links(self, mdir: Path) -> int:
        links = _pieces(mdir / "links")
        if len(links) < COMPACT_AT:
            return 0
        files = _files_sql([p for _, _, p in links])
        table = self._run(
            f"SELECT * FROM read_parquet({files}) "
            "QUALIFY row_number() OVER (PARTITION BY distinct_id ORDER BY linked_at DESC) = 1"
        )
        self._swap(table.cast(OVERRIDE_SCHEMA), links[-1][2], [p for _, _, p in links])
        return len(links) - 1

    # ---- erasure ---------------------------------------------------------------------

    async def erase(
        self, merchant_id: str, distinct_ids: set[str], member_id: str, pseudonym: str
    ) -> dict[str, int]:
        return await asyncio.to_thread(
            self._erase_sync, merchant_id, set(distinct_ids), member_id, pseudonym
        )

    def _erase_sync(
        self, merchant_id: str, distinct_ids: set[str], member_id: str, pseudonym: str
    ) -> dict[str, int]:
        mdir = self._merchant_dir(merchant_id)
        counts = dict.fromkeys(("events", "mentions", "hours", "links", "pieces", "temporary"), 0)
        if not mdir.is_dir():
            return counts
        lit = self.dialect.lit
        with self._writing():
            counts["temporary"] = _remove_temporary(mdir)
            links = [p for _, _, p in _pieces(mdir / "links")]
            ids = {i for i in distinct_ids | {member_id} if i}
            member = lit(member_id)
            if links:  # the devices the store links to the person, should the database not
                id_list = ", ".join(lit(i) for i in sorted(ids))
                found = self._run(
                    f"SELECT DISTINCT distinct_id FROM read_parquet({_files_sql(links)}) "
                    f"WHERE person_id IN ({id_list}) OR coalesce(member_id = {member}, false)"
                )
                ids |= {i for i in found.column(0).to_pylist() if i}
            id_list = ", ".join(lit(i) for i in sorted(ids))
            mine = f"(distinct_id IN ({id_list}) OR coalesce(member_id = {member}, false))"
            needles = json_needles(ids)
            mentions = " OR ".join(f"contains(properties, {lit(n)})" for n in needles) or "false"
            replaced = "properties"
            for needle in needles:
                replaced = f"replace({replaced}, {lit(needle)}, {lit(json.dumps(pseudonym))})"
            # What each rewritten column becomes; the others are copied as they are.
            event_sql = {
                "distinct_id": f"CASE WHEN {mine} THEN {lit(pseudonym)} ELSE distinct_id END",
                "member_id": f"CASE WHEN {mine} THEN NULL ELSE member_id END",
                "share_code": f"CASE WHEN {mine} THEN NULL ELSE share_code END",
                "properties": f"CASE WHEN {mine} THEN '{{}}' ELSE {replaced} END",
            }
            event_cols = ", ".join(f"{event_sql.get(n, n)} AS {n}" for n in NAMES)
            sums = ", ".join(f"CAST(sum({n}) AS BIGINT) AS {n}" for n, _ in HOUR_COUNTERS)
            hour_cols = (
                f"merchant_id, hour, {event_sql['distinct_id']} AS distinct_id, "
                f"{event_sql['member_id']} AS member_id, platform, {sums}"
            )
            linked = (
                f"(distinct_id IN ({id_list}) OR person_id IN ({id_list}) "
                f"OR coalesce(member_id = {member}, false))"
            )
            with self._staging() as staged:
                segs = [p for _, _, p in _pieces(mdir / "seg")]
                for path, n, m in self._holding(segs, mine, mentions):
                    table = self._run(
                        f"SELECT {event_cols} FROM read_parquet({_files_sql([path])})"
                    )
                    staged.append((_stage(_like(table, path), path), path))
                    counts["events"] += n
                    counts["mentions"] += m
                rolls = [p for _, _, p in _pieces(mdir / "roll")]
                for path, n, _ in self._holding(rolls, mine, "false"):
                    table = self._run(
                        f"SELECT {hour_cols} FROM read_parquet({_files_sql([path])}) GROUP BY ALL"
                    )
                    staged.append((_stage(_like(table, path), path), path))
                    counts["hours"] += n
                for path, n, _ in self._holding(links, linked, "false"):
                    table = self._run(
                        f"SELECT * FROM read_parquet({_files_sql([path])}) WHERE NOT {linked}"
                    )
                    staged.append((_stage(_like(table, path), path), path))
                    counts["links"] += n
            counts["pieces"] = len(staged)
        return counts

    async def expire(self, merchant_id: str, before: datetime) -> dict[str, int]:
        return await asyncio.to_thread(self._expire_sync, merchant_id, before)

    def _expire_sync(self, merchant_id: str, before: datetime) -> dict[str, int]:
        """Retention: raw events before `before` go; their hourly aggregates stay as totals
        with no distinct id (orders and GMV of old days still add up, people are gone)."""
        mdir = self._merchant_dir(merchant_id)
        counts = dict.fromkeys(("events", "hours", "pieces"), 0)
        if not mdir.is_dir():
            return counts
        self._roll_up_sync()  # the tail's totals first: they must outlive the raw events
        old = f"time < {self.dialect.instant(before)}"
        old_hour = f"hour < {self.dialect.instant(before)}"
        sums = ", ".join(f"CAST(sum({n}) AS BIGINT) AS {n}" for n, _ in HOUR_COUNTERS)
        with self._writing():
            with self._staging() as staged:
                for path, n, _ in self._holding(
                    [p for _, _, p in _pieces(mdir / "seg")], old, "false"
                ):
                    counts["events"] += n
                    if pq.ParquetFile(path).metadata.num_rows > n:  # newer rows stay
                        table = self._run(
                            f"SELECT * FROM read_parquet({_files_sql([path])}) WHERE NOT {old}"
                        )
                        staged.append((_stage(_like(table, path), path), path))
                    else:
                        staged.append((None, path))
                for path, n, _ in self._holding(
                    [p for _, _, p in _pieces(mdir / "roll")],
                    f"{old_hour} AND distinct_id <> 'expired'",
                    "false",
                ):
                    table = self._run(
                        f"SELECT merchant_id, hour, CASE WHEN {old_hour} THEN 'expired' "
                        f"ELSE distinct_id END AS distinct_id, CASE WHEN {old_hour} THEN NULL "
                        f"ELSE member_id END AS member_id, platform, {sums} "
                        f"FROM read_parquet({_files_sql([path])}) GROUP BY ALL"
                    )
                    staged.append((_stage(_like(table, path), path), path))
                    counts["hours"] += n
            counts["pieces"] = len(staged)
        return counts

    def _holding(self, paths: list[Path], mine: str, mentions: str) -> list[tuple[Path, int, int]]:
        """(piece, rows that are the person's, other rows naming them) of the pieces that
        have any."""
        if not paths:
            return []
        cursor = self._con.cursor()
        try:
            found = cursor.execute(
                f"SELECT filename, count(*) FILTER (WHERE {mine}), "
                f"count(*) FILTER (WHERE NOT {mine}) "
                f"FROM read_parquet({_files_sql(paths)}, filename = true) "
                f"WHERE {mine} OR {mentions} GROUP BY filename"
            ).fetchall()
        finally:
            cursor.close()
        by_name = {str(p): p for p in paths}
        return sorted(
            ((by_name.get(name, Path(name)), int(n), int(m)) for name, n, m in found),
            key=lambda x: str(x[0]),
        )

    async def close(self) -> None:
        self._con.close()
