"""Distribution's jobs, each in units of work of its own."""

from __future__ import annotations

from growthloop.campaigns.distribution import service
from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.jobs import until_caught_up
from growthloop.identity import service as identity


async def settle_due_commissions(db: Database, clock: Clock, batch: int = 200) -> int:
    """Sweep: frozen commissions whose settlement date has come move into the promoters'
    accounts, `batch` per transaction; how many were due."""

    async def settle_batch() -> int:
        async with db.unit_of_work() as uow:
            return await service.settle_due(uow.session, batch)

    return await until_caught_up(batch, settle_batch)


async def give_referral_code(db: Database, member_id: str) -> str:
    """A referral code for a member from before codes existed, written in a short
    transaction of its own (`GET /v1/me/referral` runs in a read transaction)."""
    async with db.unit_of_work() as uow:
        return await identity.ensure_referral_code(uow.session, member_id)
