"""Group buys' sweep, in units of work of its own."""

from __future__ import annotations

from growthloop.campaigns.group_buys import repository as repo
from growthloop.campaigns.group_buys import seats
from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.jobs import until_caught_up
from growthloop.payments.service import Gateways


async def expire_due_groups(db: Database, clock: Clock, gateways: Gateways, batch: int = 20) -> int:
    """Groups past their expiry: succeeded (enough members for 模拟成团) or failed, with
    every paid order refunded and every unpaid one cancelled. One transaction per group;
    claimed with SKIP LOCKED and moved by guarded updates, so several workers never act on
    one group twice. How many were due."""

    async def expire_batch() -> int:
        async with db.unit_of_work() as uow:
            ids = await repo.due_groups(uow.session, clock.now(), batch)
        for group_id in ids:
            async with db.unit_of_work() as uow:
                await seats.expire_group(uow.session, gateways, group_id)
        return len(ids)

    return await until_caught_up(batch, expire_batch)
