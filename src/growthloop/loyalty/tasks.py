"""Loyalty's sweeps (run by the worker, growthloop.wiring): points past their expiry, and
tiers whose review period has ended. Each opens its own units of work."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.jobs import until_caught_up
from growthloop.loyalty import ledger
from growthloop.loyalty import repository as repo
from growthloop.loyalty.tiers import review_tier


async def expire_due_points(db: Database, clock: Clock, members_per_round: int = 500) -> int:
    """Write an expiry entry for every batch past its expiry. Accounts are locked before
    batches (the order spending uses) and busy ones are left for the next round, so the
    sweep never deadlocks with a request and several workers can run it."""
    expired = 0
    while True:
        async with db.unit_of_work() as uow:
            s, now = uow.session, clock.now()
            pairs = await repo.members_with_due_batches(s, now, members_per_round)
            accounts = await repo.lock_existing_accounts(s, pairs)
            locked = [(a.merchant_id, a.member_id) for a in accounts]
            by_pair = {(a.merchant_id, a.member_id): a for a in accounts}
            due = await repo.due_batches_for(s, locked, now)
            expired += await ledger.expire_due_in_bulk(s, by_pair, due, now)
        if len(pairs) < members_per_round or not locked:
            return expired


async def review_due_tiers(db: Database, clock: Clock, per_round: int = 500) -> int:
    """Re-evaluate every tier whose review period has ended. Busy accounts are skipped and
    picked up by the next run."""
    reviewed = 0
    async with db.unit_of_work(write=False) as uow:
        periodic = await repo.periodic_programs(uow.session)
    for merchant_id, review_days in periodic:
        review_batch = partial(_review_batch, db, clock, merchant_id, review_days, per_round)
        reviewed += await until_caught_up(per_round, review_batch)
    return reviewed


async def _review_batch(
    db: Database, clock: Clock, merchant_id: str, review_days: int, limit: int
) -> int:
    """Review up to `limit` of the merchant's due tiers; how many."""
    async with db.unit_of_work() as uow:
        now = clock.now()
        due = await repo.lock_accounts_due_for_review(
            uow.session, merchant_id, now - timedelta(days=review_days), limit
        )
        for account in due:
            await review_tier(uow.session, account, now)
    return len(due)
