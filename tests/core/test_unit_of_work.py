"""`UnitOfWork.before_commit`: work done last inside the transaction, only when it commits."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from growthloop.core.db import Database


async def rows(db: Database) -> list[tuple[int, str]]:
    async with db.unit_of_work(write=False) as uow:
        found = await uow.session.execute(text("SELECT id, v FROM t ORDER BY id"))
        return [(int(r[0]), str(r[1])) for r in found]


async def test_before_commit_runs_last_and_commits_with_the_rest(database: Database) -> None:
    order: list[str] = []
    async with database.unit_of_work() as uow:

        async def last() -> None:
            order.append("before_commit")
            await uow.session.execute(text("INSERT INTO t VALUES (2, 'last')"))

        uow.before_commit(last)
        await uow.session.execute(text("INSERT INTO t VALUES (1, 'first')"))
        order.append("body")
    assert order == ["body", "before_commit"]
    assert await rows(database) == [(1, "first"), (2, "last")]


async def test_before_commit_does_not_run_when_the_unit_rolls_back(database: Database) -> None:
    ran: list[str] = []
    async with database.unit_of_work() as uow:
        uow.before_commit(lambda: ran.append("marked"))
        uow.mark_rollback()
    with pytest.raises(RuntimeError):
        async with database.unit_of_work() as uow:
            uow.before_commit(lambda: ran.append("raised"))
            raise RuntimeError("the request failed")
    assert ran == []


async def test_a_failing_before_commit_rolls_everything_back(database: Database) -> None:
    def fail() -> None:
        raise RuntimeError("the counter could not be taken")

    with pytest.raises(RuntimeError):
        async with database.unit_of_work() as uow:
            await uow.session.execute(text("INSERT INTO t VALUES (1, 'first')"))
            uow.before_commit(fail)
    assert await rows(database) == []


async def test_what_was_done_outside_is_undone_even_when_the_rollback_fails(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit taken from Redis, a gate entered: their undo runs though the database could
    not roll back (a dropped connection), and the rollback's error is what propagates."""
    undone: list[str] = []
    with pytest.raises(ConnectionError):
        async with database.unit_of_work() as uow:
            uow.on_rollback(lambda: undone.append("undone"))

            async def lost() -> None:
                raise ConnectionError("the connection dropped")

            monkeypatch.setattr(uow.session, "rollback", lost)
            raise RuntimeError("the request failed")
    assert undone == ["undone"]
