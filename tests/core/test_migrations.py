"""The migrations build exactly the schema the models declare."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from growthloop.all_models import metadata
from growthloop.core.runtime import Runtime


async def test_models_match_migrations(rt: Runtime) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with rt.db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == [], f"run `alembic revision --autogenerate`: {changes}"
