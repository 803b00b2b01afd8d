"""Members imported in bulk are the members their platform accounts log in as: the next
login finds them (not a new member), their nickname is sealed at rest and shown to them,
their days and last login are kept; history goes in once and bad history writes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from growthloop.core.ids import new_id
from growthloop.core.runtime import Runtime
from growthloop.identity import bulk
from growthloop.identity.models import Member, MemberActivityDay
from tests.helpers import make_shop
from tests.identity.support import login


async def test_an_imported_member_logs_in_as_themselves(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    now = rt.clock.now()
    joined = now - timedelta(days=30)
    alice = new_id(joined)
    async with rt.db.unit_of_work() as uow:
        s = uow.session
        arrivals = [
            bulk.Arrival(
                member_id=alice,
                platform="dev",
                openid="imported-alice",
                joined_at=joined,
                nickname="老顾客小李",
            ),
            bulk.Arrival(
                member_id=new_id(joined), platform="dev", openid="imported-bob", joined_at=joined
            ),
        ]
        assert await bulk.import_members(s, shop.merchant_id, arrivals) == 2
        day = joined.date()
        visits = [(alice, day), (alice, day), (alice, day + timedelta(days=1))]
        assert await bulk.import_visits(s, shop.merchant_id, visits) == 2
        await bulk.import_last_logins(s, shop.merchant_id, {alice: now - timedelta(days=1)})
        await bulk.import_birthdays(s, shop.merchant_id, {alice: date(1990, 3, 9)})
    async with rt.db.unit_of_work(write=False) as uow:
        (stored,) = (
            await uow.session.execute(
                text("SELECT nickname FROM members WHERE id = :id"), {"id": alice}
            )
        ).one()
        member = await uow.session.get(Member, alice)
        days = await uow.session.scalar(
            select(func.count())
            .select_from(MemberActivityDay)
            .where(MemberActivityDay.member_id == alice)
        )
    assert stored.startswith("enc:") and "小李" not in stored
    assert member is not None and member.last_login_at == now - timedelta(days=1)
    assert (member.birthday, member.birthday_month_day) == (date(1990, 3, 9), 309)
    assert days == 2

    came = await login(client, shop.merchant_id, "imported-alice")
    assert came["member_id"] == alice and came["is_new"] is False
    me = (await client.get("/v1/me", headers=came["headers"])).json()
    assert me["nickname"] == "老顾客小李"


async def test_history_goes_in_once_and_bad_history_writes_nothing(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    now = rt.clock.now()
    once = [bulk.Arrival(member_id=new_id(), platform="dev", openid="once", joined_at=now)]
    async with rt.db.unit_of_work() as uow:
        await bulk.import_members(uow.session, shop.merchant_id, once)
    again = [bulk.Arrival(member_id=new_id(), platform="dev", openid="once", joined_at=now)]
    with pytest.raises(IntegrityError):
        async with rt.db.unit_of_work() as uow:
            await bulk.import_members(uow.session, shop.merchant_id, again)
    twice = [
        bulk.Arrival(member_id=new_id(), platform="dev", openid="same", joined_at=now),
        bulk.Arrival(member_id=new_id(), platform="dev", openid="same", joined_at=now),
    ]
    with pytest.raises(ValueError, match="repeated platform account"):
        async with rt.db.unit_of_work() as uow:
            await bulk.import_members(uow.session, shop.merchant_id, twice)
    async with rt.db.unit_of_work(write=False) as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(Member).where(Member.merchant_id == shop.merchant_id)
        )
    assert count == 1
