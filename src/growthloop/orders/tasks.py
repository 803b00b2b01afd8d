"""Orders' sweep: orders left unpaid past their payment window are cancelled."""

from __future__ import annotations

import logging

from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.jobs import until_caught_up
from growthloop.orders import repository as repo
from growthloop.orders.service import cancel
from growthloop.payments.service import Gateways

log = logging.getLogger("growthloop.orders")


async def expire_due_orders(
    db: Database, clock: Clock, gateways: Gateways, batch: int = 100
) -> int:
    """Cancel orders whose payment window ended and return their stock; how many were
    claimed. Idempotent and safe with several workers: rows are claimed with SKIP LOCKED,
    moved by guarded updates."""

    async def expire_batch() -> int:
        async with db.unit_of_work() as uow:
            ids = await repo.due_for_expiry(uow.session, clock.now(), batch)
            for order_id in ids:
                order = await repo.get_order(uow.session, order_id)
                if order is not None and order.status == "pending_payment":
                    await cancel(uow.session, gateways, order, "payment_window_ended")
        return len(ids)

    total = await until_caught_up(batch, expire_batch)
    if total:
        log.info("orders expired: %d", total, extra={"expired": total})
    return total
