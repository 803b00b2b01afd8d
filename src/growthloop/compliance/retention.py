"""Retention: how long each kind of record is kept, and the sweep that enforces it.

Personal data is kept for its purpose and no longer (PIPL art.19). Periods by kind:
- raw analytics events: 2 years, then deleted; their hourly aggregates stay as totals with
  no person in them (a store's `expire`);
- the audit log: 3 years (the network security rules ask for at least six months).
Members' own records (profile, orders, points) are kept while the account exists and go
with its deletion; orders are kept for accounting afterwards with the person removed.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from growthloop.compliance.registry import PrivacyRegistry
from growthloop.core.audit import AuditEntry
from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.privacy import execute_bulk

PERIODS = {
    "events": timedelta(days=730),
    "audit_log": timedelta(days=3 * 365),
}
EVERY = 3600.0  # seconds between sweeps in one process


async def enforce(db: Database, clock: Clock, registry: PrivacyRegistry) -> dict[str, Any]:
    """Delete (or aggregate) what is past its period; returns what was removed."""
    now = clock.now()
    removed: dict[str, Any] = {}
    async with db.unit_of_work() as uow:
        removed["audit_log"] = await execute_bulk(
            uow.session,
            delete(AuditEntry).where(AuditEntry.created_at < now - PERIODS["audit_log"]),
        )
    for name, expire in registry.retention.items():
        removed[name] = await expire(now - PERIODS[name])
    return removed


async def sweep(db: Database, clock: Clock, registry: PrivacyRegistry) -> int:
    """The worker's sweep: at most hourly."""
    if time.monotonic() - registry.retention_ran_at < EVERY:
        return 0
    registry.retention_ran_at = time.monotonic()
    removed = await enforce(db, clock, registry)
    return sum(v if isinstance(v, int) else sum(v.values()) for v in removed.values())
