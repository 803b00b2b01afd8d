"""Domain events: typed, handled in the transaction that emits them."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import uow_of
from growthloop.core.events import DomainEvent, MemberEvent, emit
from growthloop.core.runtime import Runtime
from growthloop.orders.events import OrderCreated
from tests.helpers import assert_error, make_shop


class Pinged(DomainEvent):
    name: ClassVar[str] = "test.pinged"
    times: int


class Greeted(MemberEvent):
    name: ClassVar[str] = "test.greeted"
    words: str
    loud: bool = False


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


def test_an_event_class_is_a_frozen_keyword_only_dataclass() -> None:
    """Deriving from DomainEvent is enough: the class is a frozen dataclass whose fields are
    named at construction, and its payload is its own fields, in their order."""
    event = Greeted(merchant_id="m", member_id="x", words="hi")
    assert list(event.payload.items()) == [("words", "hi"), ("loud", False)]
    assert event == Greeted(merchant_id="m", member_id="x", words="hi")
    assert hash(event) == hash(Greeted(merchant_id="m", member_id="x", words="hi"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.words = "bye"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Greeted("m", "x", "hi")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="member_id"):
        Greeted(merchant_id="m", words="hi")  # type: ignore[call-arg]
    with pytest.raises(TypeError):  # a second @dataclass would overwrite the first's __setattr__

        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Twice(DomainEvent):
            times: int
