from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import pytest

from growthloop.core.runtime import Runtime
from growthloop.core.stock import make_stock_backend
from growthloop.wiring import load_pool, use_stock_backend
from tests.conftest import REDIS_URL

STOCK_BACKENDS = ["memory", "sql"] + (["redis"] if REDIS_URL else [])
TEST_CLIENT_IP = "127.0.0.1"  # httpx.ASGITransport's client address


@pytest.fixture(params=STOCK_BACKENDS)
async def stock_backend(request: pytest.FixtureRequest, rt: Runtime) -> AsyncIterator[str]:
    """Run the test on each stock backend in turn, on the stack's database. Every run
    starts with a fresh per-address rate-limit window: all test requests come from one
    address, and the runs of a storm test follow each other within one 10 s window."""
    await rt.counters.reset(f"flash:ip:{TEST_CLIENT_IP}")
    original = rt.stock
    backend = make_stock_backend(request.param, partial(load_pool, rt.db), redis_url=REDIS_URL)
    use_stock_backend(rt, backend)
    yield request.param
    use_stock_backend(rt, original)
    await backend.close()
