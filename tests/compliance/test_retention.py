"""Retention: records past their period are deleted or reduced to totals by the sweep."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select

from growthloop.analytics.rows import EventRow
from growthloop.compliance import retention
from growthloop.core.audit import AuditEntry
from growthloop.core.clock import FrozenClock
from growthloop.core.ids import new_id
from growthloop.core.runtime import Runtime
from tests.helpers import make_shop


async def test_the_sweep_removes_what_is_past_its_period(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    now = clock.now()
    long_ago = now - timedelta(days=3 * 365 + 2)
    async with rt.db.unit_of_work() as uow:
        for at in (long_ago, now - timedelta(days=10)):
            uow.session.add(
                AuditEntry(
                    merchant_id=shop.merchant_id,
                    actor_type="system",
                    actor_id=None,
                    action="test.old",
                    subject_type="x",
                    subject_id="1",
                    details={},
                    created_at=at,
                )
            )
    events = [
        EventRow(
            shop.merchant_id,
            new_id(),
            "order.paid",
            f"p{days}",
            f"p{days}",
            at,
            at,
            "wechat",
            None,
            None,
            None,
            990,
            "{}",
        )
        for days in (800, 10)
        for at in [now - timedelta(days=days)]
    ]
    await rt.analytics.store.append(events)

    removed = await retention.enforce(rt.db, rt.clock, rt.privacy)
    assert removed["audit_log"] >= 1
    assert removed["events"]["events"] == 1
    async with rt.db.unit_of_work(write=False) as uow:
        actions = (
            await uow.session.execute(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "test.old")
            )
        ).scalar_one()
    assert actions == 1
    assert await rt.analytics.store.query(shop.merchant_id, "SELECT distinct_id FROM events") == [
        ("p10",)
    ]
    rows = await rt.analytics.store.query(shop.merchant_id, "SELECT sum(paid), sum(gmv) FROM hours")
    assert rows == [(2, 1980)]  # the old order still counts in the totals
    # The sweep runs at most hourly.
    rt.privacy.retention_ran_at = float("-inf")
    assert await retention.sweep(rt.db, rt.clock, rt.privacy) == 0
