"""Payments' sweep: refunds the provider failed are attempted again until it confirms."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.payments import repository as repo
from growthloop.payments.service import PaymentGateway, attempt_refund

log = logging.getLogger("growthloop.payments")


async def retry_due_refunds(
    db: Database, clock: Clock, gateways: Mapping[str, PaymentGateway], limit: int = 100
) -> int:
    """Attempt pending refunds whose retry time has come, one per transaction; how many
    were attempted (succeeded or scheduled again)."""
    handled = succeeded = 0
    for _ in range(limit):
        async with db.unit_of_work() as uow:
            row = await repo.claim_due_refund(uow.session, clock.now())
            if row is None:
                break
            await attempt_refund(uow.session, gateways, row)
            handled += 1
            succeeded += row.status == "succeeded"
    if handled:
        log.info(
            "refunds retried: %d, %d succeeded",
            handled,
            succeeded,
            extra={"retried": handled, "succeeded": succeeded},
        )
    return handled
