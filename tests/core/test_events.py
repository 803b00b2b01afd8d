"""Domain events: after-commit subscribers see only committed events, at least once."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.events import DomainEvent, emit
from growthloop.core.runtime import Runtime
from tests.helpers import assert_error, make_shop


async def test_after_commit_subscribers(client: httpx.AsyncClient, rt: Runtime) -> None:
    seen: list[DomainEvent] = []
    failures = {"left": 1}

    async def record(session: AsyncSession, event: DomainEvent) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("subscriber bug")
        seen.append(event)

    rt.bus.on("order.created", record)
    try:
        shop = await make_shop(client, rt)
        product = await shop.product(stock=1)
        member = await shop.member()
        order = (await shop.order(member, product["id"])).json()
        assert_error(await shop.order(member, product["id"]), 409, "sold_out")  # rolled back
        await rt.sweeper.run_once()
        assert seen == []  # first delivery failed; retried later with backoff
        rt.clock.advance(seconds=5)  # type: ignore[attr-defined]
        await rt.sweeper.run_once()
        assert [e.payload["order_id"] for e in seen] == [order["id"]]
        assert seen[0].member_id == order["member_id"]
        await rt.sweeper.run_once()
        assert len(seen) == 1
    finally:
        rt.bus._after["order.created"].remove(record)


async def test_emit_needs_a_unit_of_work(rt: Runtime) -> None:
    async with rt.db.unit_of_work() as uow:
        await emit(uow.session, DomainEvent("nothing.listens", "m"))  # no subscriber: no row
