"""Which PII keys each running process holds: heartbeats, and the checks that use them.

Every long-running process (`serve`, with its in-process sweeper, and `growthloop worker`)
keeps one row here: who it is (host, pid, start), its role, the key ids of its ring (the
last one seals) and a fingerprint of each key, never a key. It refreshes the row every
`HEARTBEAT_SECONDS` and deletes it on a clean shutdown; a row not refreshed for
`STALE_AFTER` belongs to a process that died and counts for nothing.

The checks:
- `rotation_problems`: `growthloop compliance rotate-keys` refuses to re-seal the data
  under a key that a live process lacks (it could no longer read what it serves), holds
  under another key, or does not seal with itself (processes would seal with two keys).
- `startup_problems`: a process refuses to start when stored values are sealed with a key
  id it does not hold (someone retired a key that data still uses, or rotated without
  it): every request reading them would fail, so the rolling restart stops at the first
  process, with a message, instead of serving 503s.

Times are the database server's clock, so hosts whose clocks disagree still agree on who
is live.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, MetaData, String, delete, func, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from growthloop.core import crypto
from growthloop.core.db import Database, unavailable
from growthloop.core.jobs import cancel
from growthloop.core.models import Base, UTCDateTime, col

log = logging.getLogger("growthloop.processes")

HEARTBEAT_SECONDS = 30.0
STALE_AFTER = timedelta(seconds=3 * HEARTBEAT_SECONDS)
FORGET_AFTER = timedelta(days=1)  # rows of processes that died are deleted after this


class ProcessHeartbeat(Base):
    __tablename__ = "process_heartbeats"

    id: Mapped[str] = col(String(300), primary_key=True, pii=None)  # host:pid:start
    role: Mapped[str] = col(String(16), nullable=False, pii=None)
    host: Mapped[str] = col(String(255), nullable=False, pii=None)
    pid: Mapped[int] = col(Integer, nullable=False, pii=None)
    started_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    # The ring's key ids, oldest first (the last one seals), and a fingerprint of each key.
    key_ids: Mapped[list[str]] = col(JSON, nullable=False, pii=None)
    key_checks: Mapped[dict[str, str]] = col(JSON, nullable=False, pii=None)
    last_seen: Mapped[datetime] = col(UTCDateTime(), nullable=False, index=True, pii=None)

    @property
    def current_key_id(self) -> str:
        return self.key_ids[-1]

    def describe(self) -> str:
        return (
            f"{self.role} {self.host} pid {self.pid} (started {self.started_at:%Y-%m-%d %H:%M:%S}Z)"
        )


class KeysUnavailable(Exception):
    """A process cannot start: stored values are sealed with keys it does not hold."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__(
            "stored personal data is sealed with keys this process does not hold: "
            + "; ".join(problems)
            + ". Add the key(s) to GROWTHLOOP_PII_KEYS (older keys before the newest) and "
            "start again; `growthloop compliance keys-status` shows which keys the data uses."
        )
        self.problems = list(problems)


async def database_now(session: AsyncSession) -> datetime:
    """The database server's time (SQLite's to the millisecond; CURRENT_TIMESTAMP there
    has whole seconds)."""
    if session.get_bind().dialect.name == "sqlite":
        now_sql: Any = func.strftime("%Y-%m-%d %H:%M:%f", "now")
    else:
        now_sql = func.current_timestamp()
    now: datetime = (
        await session.execute(select(type_coerce(now_sql, UTCDateTime())))
    ).scalar_one()
    return now


async def live_processes(session: AsyncSession, now: datetime) -> list[ProcessHeartbeat]:
    query = (
        select(ProcessHeartbeat)
        .where(ProcessHeartbeat.last_seen >= now - STALE_AFTER)
        .order_by(ProcessHeartbeat.started_at, ProcessHeartbeat.id)
    )
    return list((await session.execute(query)).scalars())


async def count_stale(session: AsyncSession, now: datetime) -> int:
    query = select(func.count()).where(ProcessHeartbeat.last_seen < now - STALE_AFTER)
    return int((await session.execute(query)).scalar_one())


# ---- the checks --------------------------------------------------------------------------


def rotation_problems(ring: crypto.KeyRing, live: Sequence[ProcessHeartbeat]) -> list[str]:
    """Why re-sealing everything under `ring.current_kid` would lock a live process out of
    the data, or leave processes sealing with different keys."""
    kid = ring.current_kid
    problems = []
    for p in live:
        if kid not in p.key_ids:
            problems.append(
                f"{p.describe()} lacks key id {kid!r}: it could not read the rotated data"
            )
        elif p.key_checks.get(kid) != ring.checks[kid]:
            problems.append(
                f"{p.describe()} holds a different key under the id {kid!r}: "
                "it could not read the rotated data"
            )
        elif p.current_key_id != kid:
            problems.append(
                f"{p.describe()} seals new values with key id {p.current_key_id!r}, "
                f"not {kid!r}: {kid!r} must be the newest (last) key of every process"
            )
    return problems


def lacking(
    live: Sequence[ProcessHeartbeat], usage: Sequence[crypto.KeyUsage]
) -> list[tuple[ProcessHeartbeat, str, int]]:
    """(process, key id, values sealed with it) for every key id the data uses that a
    live process does not hold."""
    in_use = crypto.rows_by_kid(usage)
    return [(p, kid, rows) for p in live for kid, rows in in_use.items() if kid not in p.key_ids]


def startup_problems(ring: crypto.KeyRing, usage: Sequence[crypto.KeyUsage]) -> list[str]:
    rows = crypto.rows_by_kid(usage)
    return [
        f"{rows[kid]} values are sealed with key id {kid!r}, which "
        + ("is not in GROWTHLOOP_PII_KEYS" if why == "missing" else "holds a different key here")
        for kid, why in crypto.unreadable(usage, ring).items()
    ]


async def rotation_check(db: Database, ring: crypto.KeyRing) -> list[str]:
    """`rotation_problems` of the processes live now."""
    async with db.unit_of_work(write=False) as uow:
        live = await live_processes(uow.session, await database_now(uow.session))
    return rotation_problems(ring, live)


def _process_out(p: ProcessHeartbeat) -> dict[str, Any]:
    return {
        "id": p.id,
        "role": p.role,
        "host": p.host,
        "pid": p.pid,
        "started_at": p.started_at.isoformat(),
        "last_seen": p.last_seen.isoformat(),
        "key_ids": p.key_ids,
        "newest_key_id": p.current_key_id,
    }


async def key_status(db: Database, metadata: MetaData, ring: crypto.KeyRing) -> dict[str, Any]:
    """What `growthloop compliance keys-status` prints: the key ids the stored values use,
    the ones each live process holds, and what is wrong now (`problems`: someone cannot
    read something) or would go wrong on rotating to `ring`'s newest key (`blockers`)."""
    usage = await crypto.key_usage(db, metadata)
    async with db.unit_of_work(write=False) as uow:
        now = await database_now(uow.session)
        live = await live_processes(uow.session, now)
        stale = await count_stale(uow.session, now)
    in_use = crypto.rows_by_kid(usage)
    plaintext = sum(u.rows for u in usage if u.kid is None)
    problems = [
        f"{rows} stored values are sealed with key id {kid!r}, which "
        + (
            "is not in this command's GROWTHLOOP_PII_KEYS"
            if why == "missing"
            else "holds a different key in this command's GROWTHLOOP_PII_KEYS"
        )
        for kid, why in crypto.unreadable(usage, ring).items()
        for rows in [in_use[kid]]
    ]
    problems += [
        f"{p.describe()} lacks key id {kid!r}, which {rows} stored values use: "
        "its requests that read them answer 503"
        for p, kid, rows in lacking(live, usage)
    ]
    problems += [
        f"{p.describe()} holds a different key under the id {kid!r} than this command"
        for p in live
        for kid, check in p.key_checks.items()
        if kid in ring.checks and ring.checks[kid] != check
    ]
    newest = sorted({p.current_key_id for p in live})
    if len(newest) > 1:
        problems.append(
            f"live processes seal new values with different keys ({', '.join(map(repr, newest))}): "
            "give every process the same newest (last) key"
        )
    if plaintext:
        problems.append(
            f"{plaintext} stored values are not encrypted: `growthloop compliance rotate-keys` "
            "seals them"
        )
    return {
        "this_command": {"key_ids": ring.kids, "newest_key_id": ring.current_kid},
        "data": in_use,
        "plaintext": plaintext,
        "processes": [_process_out(p) for p in live],
        "stale_processes": stale,
        "unused_key_ids": [k for k in ring.kids if k not in in_use and k != ring.current_kid],
        "problems": problems,
        "rotate_to": {"key_id": ring.current_kid, "blockers": rotation_problems(ring, live)},
    }


# ---- the heartbeat -----------------------------------------------------------------------


@dataclass
class Heartbeat:
    """This process's row: written at start, refreshed in the background, deleted at stop."""

    db: Database
    role: str
    ring: crypto.KeyRing
    interval: float = HEARTBEAT_SECONDS
    host: str = ""
    pid: int = 0
    started_at: datetime | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        assert self.started_at is not None
        return f"{self.host}:{self.pid}:{self.started_at.timestamp():.6f}"

    def _values(self, now: datetime) -> dict[str, Any]:
        return {
            "key_ids": self.ring.kids,
            "key_checks": dict(self.ring.checks),
            "last_seen": now,
        }

    async def beat(self) -> None:
        async with self.db.unit_of_work() as uow:
            s = uow.session
            now = await database_now(s)
            if self.started_at is None:
                self.host, self.pid, self.started_at = socket.gethostname(), os.getpid(), now
                await s.execute(
                    delete(ProcessHeartbeat).where(ProcessHeartbeat.last_seen < now - FORGET_AFTER)
                )
            values = self._values(now)
            found = await s.execute(
                update(ProcessHeartbeat).where(ProcessHeartbeat.id == self.id).values(values)
            )
            if found.rowcount == 0:  # type: ignore[attr-defined]
                s.add(
                    ProcessHeartbeat(
                        id=self.id,
                        role=self.role,
                        host=self.host,
                        pid=self.pid,
                        started_at=self.started_at,
                        **values,
                    )
                )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except Exception:
                # not `process`: a LogRecord's own attribute (the pid), which `extra` may not set
                log.exception("heartbeat failed", extra={"heartbeat": self.id})

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        if self.started_at is None:
            return
        for attempt in range(3):
            try:
                async with self.db.unit_of_work() as uow:
                    await uow.session.execute(
                        delete(ProcessHeartbeat).where(ProcessHeartbeat.id == self.id)
                    )
                return
            except Exception as exc:
                if attempt < 2 and unavailable(exc):  # the database busy a moment: again
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                # it goes stale on its own
                log.exception("could not remove the heartbeat", extra={"heartbeat": self.id})
                return


async def begin(
    db: Database, role: str, metadata: MetaData, *, interval: float = HEARTBEAT_SECONDS
) -> Heartbeat:
    """Record this process and the keys it holds, then check that it can read the stored
    values (raises `KeysUnavailable` if not, leaving no row); the heartbeat then runs
    until `stop()`. The row is written before the check, so a rotation running meanwhile
    either re-sealed values before the check (which then refuses) or sees this process at
    its next batch or its end (and stops, or says so)."""
    heartbeat = Heartbeat(db, role, crypto.current_keys(), interval)
    await heartbeat.beat()
    try:
        problems = startup_problems(heartbeat.ring, await crypto.key_usage(db, metadata))
        if problems:
            raise KeysUnavailable(problems)
    except BaseException:
        await heartbeat.stop()
        raise
    heartbeat.start()
    return heartbeat
