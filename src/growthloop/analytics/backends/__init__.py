"""Event-store backends: DuckDB over Parquet segments (default, files in the data dir) and
ClickHouse (a server, or chdb in-process). `open_event_store` picks one from the settings."""

from __future__ import annotations

from pathlib import Path

from growthloop.analytics.backends.base import Dialect, EventStore


def open_event_store(events_url: str | None, data_dir: Path) -> EventStore:
    """`GROWTHLOOP_EVENTS_URL`: unset or `duckdb:///path` for the embedded store,
    `chdb:///path` for in-process ClickHouse, `clickhouse://user:pass@host:8123/db` for a
    server."""
    url = events_url or ""
    if url.startswith(("clickhouse://", "clickhouses://", "chdb://")):
        from growthloop.analytics.backends.clickhouse import ClickHouseEventStore

        return ClickHouseEventStore.from_url(url, data_dir)
    from growthloop.analytics.backends.duckdb import DuckDBEventStore

    path = Path(url.removeprefix("duckdb://")) if url.startswith("duckdb://") else None
    return DuckDBEventStore(path or data_dir / "events")


__all__ = ["Dialect", "EventStore", "open_event_store"]
