"""SQLite on the event loop's own thread, through aiosqlite's API.

aiosqlite gives every connection a thread and hands it each call (execute, fetch, close
the cursor, commit): a request of a few point queries pays a dozen hand-offs, each a
wake-up of the loop and a pass of the GIL, costing more CPU than the queries themselves.
Here the same `aiosqlite.Connection` (so SQLAlchemy's dialect is unchanged) runs each
call at once, on the caller's thread. `core.db` decides which units of work use it and
keeps lock waits off the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from types import SimpleNamespace
from typing import Any

import aiosqlite

Call = tuple["asyncio.Future[Any] | None", Callable[[], Any]]


class _RunNow:
    """What aiosqlite needs of its queue to the worker thread: `put_nowait`, here running
    the call and settling its future before returning."""

    def put_nowait(self, item: Call) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _RunNow()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # there is no thread to start


def _connect(database: str, **kwargs: Any) -> InlineConnection:
    # The pool may hand the connection to another thread's loop later (tests, the CLI);
    # it is only ever used by one holder at a time.
    kwargs["check_same_thread"] = False
    return InlineConnection(lambda: sqlite3.connect(database, **kwargs), 64)


def inline_module() -> Any:
    """The aiosqlite module as SQLAlchemy's dialect uses it, connecting inline."""
    module = SimpleNamespace(**vars(aiosqlite))
    module.connect = _connect
    module.Connection = InlineConnection
    return module
