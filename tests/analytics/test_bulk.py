"""Ids imported in bulk are the members they name, and a repeated id or an unknown source
writes nothing (the demo's events are read back by tests/test_demo.py's dashboards)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from growthloop.analytics import bulk
from growthloop.analytics.models import AnalyticsIdentity
from growthloop.core.ids import new_id
from growthloop.core.runtime import Runtime
from tests.helpers import make_shop


async def test_known_ids_link_to_their_members(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    now = rt.clock.now()
    member = new_id()
    known = [
        bulk.KnownId(member, member, "member", now, platform_hint="wechat"),
        bulk.KnownId("device-1", member, "identify", now),
    ]
    async with rt.db.unit_of_work() as uow:
        assert await bulk.import_identities(uow.session, shop.merchant_id, known) == 2
    for bad in (
        [bulk.KnownId("device-2", member, "identify", now)] * 2,
        [bulk.KnownId("device-3", member, "guess", now)],
    ):
        with pytest.raises(ValueError):
            async with rt.db.unit_of_work() as uow:
                await bulk.import_identities(uow.session, shop.merchant_id, bad)
    async with rt.db.unit_of_work(write=False) as uow:
        rows = (
            await uow.session.scalars(
                select(AnalyticsIdentity).where(AnalyticsIdentity.merchant_id == shop.merchant_id)
            )
        ).all()
    assert sorted((r.distinct_id, r.person_id, r.source) for r in rows) == sorted(
        [(member, member, "member"), ("device-1", member, "identify")]
    )
