"""History imported in bulk (the demo shop, a shop moving in) keeps the ledger's invariants:
balance = ledger sum = what the batches hold; the tier is loyalty's own rule; history goes in
once; bad history writes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from growthloop.core.ids import new_id
from growthloop.core.runtime import Runtime
from growthloop.loyalty import bulk
from growthloop.loyalty.models import GrowthEntry, LedgerEntry, LoginDay, MemberLoyalty, PointsBatch
from tests.helpers import Shop, make_shop

TIERS = {
    "points_per_yuan": 1,
    "points_expire_days": 365,
    "tiers": [
        {"name": "普通会员"},
        {"name": "白银会员", "min_spend": 20000},
        {"name": "黄金会员", "min_spend": 100000},
    ],
}


async def _shop(client: httpx.AsyncClient, rt: Runtime) -> Shop:
    shop = await make_shop(client, rt)
    r = await client.put("/v1/admin/loyalty/program", json=TIERS, headers=shop.admin)
    assert r.status_code == 200, r.text
    return shop


async def _import(rt: Runtime, shop: Shop, standings: list[bulk.Standing]) -> bulk.Imported:
    async with rt.db.unit_of_work() as uow:
        return await bulk.import_standings(uow.session, shop.merchant_id, standings, rt.clock.now())


async def test_imported_history_is_a_whole_ledger(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await _shop(client, rt)
    now = rt.clock.now()
    day = date(2026, 3, 1)
    regular, newcomer = new_id(), new_id()
    done = await _import(
        rt,
        shop,
        [
            bulk.Standing(
                member_id=regular,
                points=1230,
                spend=[(now - timedelta(days=9), 60000), (now - timedelta(days=2), 50000)],
                login_days=[day, day, day + timedelta(days=1)],
                enrolled_at=now - timedelta(days=9),
            ),
            bulk.Standing(member_id=newcomer),
        ],
    )
    assert (done.members, done.points) == (2, 1230)
    assert done.tiers == {"黄金会员": 1, "普通会员": 1}
    async with rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        account = await s.get(MemberLoyalty, (shop.merchant_id, regular))
        assert account is not None
        assert (account.points, account.growth, account.login_days) == (1230, 110000, 2)
        assert account.tier == "黄金会员"
        ledger = await s.scalar(
            select(func.sum(LedgerEntry.delta)).where(LedgerEntry.member_id == regular)
        )
        held = await s.scalar(
            select(func.sum(PointsBatch.remaining)).where(PointsBatch.member_id == regular)
        )
        assert ledger == held == account.points
        growth = await s.scalar(
            select(func.count()).select_from(GrowthEntry).where(GrowthEntry.member_id == regular)
        )
        days = await s.scalar(
            select(func.count()).select_from(LoginDay).where(LoginDay.member_id == regular)
        )
        assert (growth, days) == (2, 2)
        other = await s.get(MemberLoyalty, (shop.merchant_id, newcomer))
        assert other is not None and (other.points, other.tier) == (0, "普通会员")


async def test_history_goes_in_once_and_bad_history_writes_nothing(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await _shop(client, rt)
    member = new_id()
    await _import(rt, shop, [bulk.Standing(member_id=member, points=5)])
    with pytest.raises(IntegrityError):
        await _import(rt, shop, [bulk.Standing(member_id=member, points=5)])
    with pytest.raises(ValueError, match="negative"):
        await _import(
            rt,
            shop,
            [
                bulk.Standing(member_id=new_id(), points=1),
                bulk.Standing(member_id=new_id(), points=-1),
            ],
        )
    async with rt.db.unit_of_work(write=False) as uow:
        total = await uow.session.scalar(
            select(func.sum(LedgerEntry.delta)).where(LedgerEntry.merchant_id == shop.merchant_id)
        )
        accounts = await uow.session.scalar(
            select(func.count())
            .select_from(MemberLoyalty)
            .where(MemberLoyalty.merchant_id == shop.merchant_id)
        )
    assert (total, accounts) == (5, 1)
