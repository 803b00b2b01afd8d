"""Runs Alembic migrations on an async engine (the same code path for CLI, serve, tests)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
log = logging.getLogger("growthloop.migrate")


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(MIGRATIONS_DIR.parent / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _current_heads(connection: Connection) -> list[str]:
    """The revisions the database is at (read directly: MigrationContext would log twice)."""
    if not inspect(connection).has_table("alembic_version"):
        return []
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _applied(script: ScriptDirectory, heads: Iterable[str]) -> set[str]:
    """Every revision at or below `heads`: what a database at those heads has run."""
    seen: set[str] = set()
    todo = list(heads)
    while todo:
        revision = script.get_revision(todo.pop())
        if revision is None or revision.revision in seen:
            continue
        seen.add(revision.revision)
        down = revision.down_revision
        todo.extend([down] if isinstance(down, str) else list(down or ()))
    return seen


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> int:
    """Bring the database to `revision`; returns how many migrations ran (0: it was there).

    Alembic logs one line per migration; this logs one summary line when any ran."""
    # "heads": each feature ships its own migration off the schema it builds on, so several
    # branches may be open at once; all of them are applied.
    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)

    def run(connection: Connection) -> int:
        before = _current_heads(connection)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
        after = _current_heads(connection)
        return len(_applied(script, after) - _applied(script, before))

    async with engine.begin() as conn:
        count = await conn.run_sync(run)
    if count:
        log.info("database migrated: %d migration%s applied", count, "" if count == 1 else "s")
    return count
