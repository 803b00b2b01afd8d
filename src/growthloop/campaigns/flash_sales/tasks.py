"""The flash-sale sweep: sales that are over give their unsold units back."""

from __future__ import annotations

import logging
from datetime import timedelta

from growthloop.campaigns.flash_sales import repository as repo
from growthloop.campaigns.flash_sales.events import FlashSaleClosed
from growthloop.catalog import service as catalog
from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.events import emit
from growthloop.core.jobs import until_caught_up

log = logging.getLogger("growthloop.flash_sales")

# A purchase that passed the window check just before the end may still be committing;
# the sale is closed (unsold units back to the product) only this long after it ends.
CLOSE_GRACE = timedelta(minutes=1)


async def close_due_sales(db: Database, clock: Clock, batch: int = 50) -> int:
    """Give the unsold units of sales that are over back to their products. Idempotent and
    safe with several workers (claimed with SKIP LOCKED, closed by a guarded update)."""
    closed = 0

    async def close_batch() -> int:
        nonlocal closed
        async with db.unit_of_work() as uow:
            s = uow.session
            at = clock.now()
            ids = await repo.due_to_close(s, at - CLOSE_GRACE, batch)
            for sale_id in ids:
                sale = await repo.get_sale(s, sale_id)
                if sale is None or sale.closed_at is not None:
                    continue
                paid = (await repo.counts(s, [sale.id]))[sale.id].paid
                unsold = max(sale.stock - paid, 0)
                if await repo.close(s, sale, unsold, at):
                    closed += 1
                    if unsold:
                        await catalog.release_stock(s, sale.merchant_id, {sale.product_id: unsold})
                    await emit(
                        s,
                        FlashSaleClosed(
                            merchant_id=sale.merchant_id,
                            flash_sale_id=sale.id,
                            sold=paid,
                            returned=unsold,
                        ),
                    )
        return len(ids)

    total = await until_caught_up(batch, close_batch)
    if closed:
        log.info("flash sales closed: %d", closed, extra={"closed": closed})
    return total
