"""A bare SQLite database with one table, for the unit-of-work tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from growthloop.core.db import Database

SQLITE_FILE = "bare.db"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / SQLITE_FILE}")
    async with db.unit_of_work() as uow:
        await uow.session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield db
    await db.dispose()
