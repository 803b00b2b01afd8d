"""Domain events: typed, handled in the transaction that emits them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import uow_of
from growthloop.core.events import DomainEvent, emit
from growthloop.core.runtime import Runtime
from growthloop.orders.events import OrderCreated
from tests.helpers import assert_error, make_shop


@dataclass(frozen=True, kw_only=True)
class Pinged(DomainEvent):
    name: ClassVar[str] = "test.pinged"
    times: int


async def test_subscribers_run_in_the_emitting_transaction(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """A subscriber runs inside its cause's transaction: what the cause rolls back, the
    subscriber's work goes with it; a failing subscriber fails its cause."""
    seen: list[OrderCreated] = []

    async def record(session: AsyncSession, event: OrderCreated) -> None:
        uow_of(session).after_commit(lambda: seen.append(event))

    rt.bus.on(OrderCreated, record)
    try:
        shop = await make_shop(client, rt)
        product = await shop.product(stock=1)
        member = await shop.member()
        order = (await shop.order(member, product["id"])).json()
        assert_error(await shop.order(member, product["id"]), 409, "sold_out")  # rolled back
        assert [e.order_id for e in seen] == [order["id"]]
        assert seen[0].member_id == order["member_id"]
    finally:
        rt.bus.off(OrderCreated, record)


async def test_handlers_are_found_by_the_event_class(rt: Runtime) -> None:
    got: list[int] = []

    async def count(session: AsyncSession, event: Pinged) -> None:
        got.append(event.times)

    rt.bus.on(Pinged, count)
    try:
        async with rt.db.unit_of_work() as uow:
            await emit(uow.session, Pinged(merchant_id="m", times=3))
        assert got == [3]
        assert Pinged(merchant_id="m", member_id="x", times=1).payload == {"times": 1}
    finally:
        rt.bus.off(Pinged, count)


async def test_emit_needs_a_unit_of_work(rt: Runtime) -> None:
    """An event emitted on a session no unit of work manages would escape its transaction's
    fate: refused."""
    async with AsyncSession(rt.db.engine) as session:
        with pytest.raises(RuntimeError, match="unit of work"):
            await emit(session, Pinged(merchant_id="m", times=1))
    async with rt.db.unit_of_work() as uow:
        await emit(uow.session, Pinged(merchant_id="m", times=1))  # no subscriber: nothing
