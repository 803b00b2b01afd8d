"""`core.sql.insert_now` writes new objects as the session's flush would: each column gets
the value set on the object or the column's default, the objects come out persistent (the
session's identity map holds them, a later change to one is an UPDATE), and a rollback
takes the rows back with the rest of the transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from growthloop.core.runtime import Runtime
from growthloop.core.sql import insert_now
from growthloop.payments.models import Payment, Refund


def _payment(rt: Runtime, amount: int) -> Payment:
    return Payment(
        merchant_id="m" * 26,
        order_id="o" * 26,
        member_id=None,
        provider="sandbox",
        amount=amount,
        status="created",
        created_at=rt.clock.now(),
    )


async def test_objects_are_written_whole_and_stay_in_the_session(rt: Runtime) -> None:
    async with rt.db.unit_of_work() as uow:
        one, two = _payment(rt, 100), _payment(rt, 200)
        await insert_now(uow.session, [one, two])
        assert one.id and two.id and one.id != two.id  # the column default, applied
        assert one.refunded_amount == 0  # a scalar default, readable without a query
        assert await uow.session.get(Payment, one.id) is one
        assert not uow.session.dirty and not uow.session.new
        one.status = "closed"  # a later change is an UPDATE at the flush
        ids = (one.id, two.id)
    async with rt.db.unit_of_work(write=False) as uow:
        rows = (await uow.session.execute(select(Payment).where(Payment.id.in_(ids)))).scalars()
        found = {p.id: (p.amount, p.status, p.refunded_amount) for p in rows}
    assert found == {ids[0]: (100, "closed", 0), ids[1]: (200, "created", 0)}


async def test_a_rollback_takes_them_back(rt: Runtime) -> None:
    async with rt.db.unit_of_work() as uow:
        payment = _payment(rt, 100)
        await insert_now(uow.session, [payment])
        payment_id = payment.id
        uow.mark_rollback()
    async with rt.db.unit_of_work(write=False) as uow:
        assert await uow.session.get(Payment, payment_id) is None


async def test_one_model_at_a_time(rt: Runtime) -> None:
    refund = Refund(
        merchant_id="m" * 26,
        payment_id="p" * 26,
        refund_no="R1",
        amount=1,
        reason="test",
        status="pending",
        created_at=rt.clock.now(),
    )
    async with rt.db.unit_of_work() as uow:
        with pytest.raises(TypeError):
            await insert_now(uow.session, [_payment(rt, 1), refund])
        uow.mark_rollback()
