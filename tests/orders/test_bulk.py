"""Past orders imported in bulk: totals are the sum of their lines, the member and the
operator see them as orders; an order whose times disagree with its status, or a payment
refunded beyond its amount, writes nothing."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from growthloop.core.ids import new_id
from growthloop.core.runtime import Runtime
from growthloop.identity import bulk as identity_bulk
from growthloop.orders import bulk
from growthloop.orders.models import Order
from growthloop.payments import bulk as payments_bulk
from tests.helpers import make_shop
from tests.identity.support import login


async def test_imported_orders_are_whole(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    now = rt.clock.now()
    at = now - timedelta(days=3)
    member, done, cancelled = new_id(), new_id(at), new_id(at)
    lines = [
        bulk.PastLine(None, "杨枝甘露", 1800, 2, {"糖度": "五分糖"}),
        bulk.PastLine(None, "珍珠奶茶", 1500, 1),
    ]
    history = [
        bulk.PastOrder(
            done,
            member,
            "completed",
            at,
            lines,
            paid_at=at + timedelta(minutes=1),
            completed_at=at + timedelta(minutes=12),
            pickup_code="0001",
        ),
        bulk.PastOrder(
            cancelled,
            member,
            "cancelled",
            at,
            lines[1:],
            cancelled_at=at + timedelta(minutes=15),
            cancel_reason="payment_window_ended",
        ),
    ]
    async with rt.db.unit_of_work() as uow:
        s = uow.session
        arrival = identity_bulk.Arrival(member, "dev", "regular", at - timedelta(days=30))
        await identity_bulk.import_members(s, shop.merchant_id, [arrival])
        assert await bulk.import_history(s, shop.merchant_id, history) == 2
        paid = payments_bulk.SettledPayment(
            done, member, "sandbox", 5100, at, at + timedelta(minutes=1)
        )
        assert await payments_bulk.import_settled(s, shop.merchant_id, [paid]) == 1
    came = await login(client, shop.merchant_id, "regular")
    mine = (await client.get("/v1/orders", headers=came["headers"])).json()["items"]
    by_id = {o["id"]: o for o in mine}
    assert by_id[done]["payable"] == 5100 and by_id[done]["status"] == "completed"
    assert sorted(i["line_total"] for i in by_id[done]["items"]) == [1500, 3600]
    assert by_id[cancelled]["payable"] == 1500
    r = await client.get(f"/v1/admin/orders/{done}", headers=shop.admin)
    assert r.status_code == 200 and r.json()["subtotal"] == 5100


@pytest.mark.parametrize(
    "change",
    [
        {"status": "paid"},
        {"paid_at": None},
        {"refunded_at": "now"},
        {"lines": []},
    ],
)
async def test_bad_history_writes_nothing(
    client: httpx.AsyncClient, rt: Runtime, change: dict[str, object]
) -> None:
    shop = await make_shop(client, rt)
    now = rt.clock.now()
    good = {
        "order_id": new_id(),
        "member_id": None,
        "status": "completed",
        "created_at": now,
        "lines": [bulk.PastLine(None, "茶", 1000, 1)],
        "paid_at": now,
    }
    bad = {**good, **{k: (now if v == "now" else v) for k, v in change.items()}}
    fine = bulk.PastOrder(**{**good, "order_id": new_id()})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        async with rt.db.unit_of_work() as uow:
            await bulk.import_history(
                uow.session,
                shop.merchant_id,
                [fine, bulk.PastOrder(**bad)],  # type: ignore[arg-type]
            )
    with pytest.raises(ValueError):
        async with rt.db.unit_of_work() as uow:
            over = payments_bulk.SettledPayment(new_id(), None, "sandbox", 100, now, now, None, 101)
            await payments_bulk.import_settled(uow.session, shop.merchant_id, [over])
    async with rt.db.unit_of_work(write=False) as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(Order).where(Order.merchant_id == shop.merchant_id)
        )
    assert count == 0
