"""Consents imported in bulk are the member's decisions: the member sees them, the ledger
holds a record for each; an unknown purpose or a purpose decided twice writes nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from growthloop.compliance import bulk
from growthloop.compliance.errors import UnknownPurpose
from growthloop.compliance.models import ConsentRecord
from growthloop.core.ids import new_id
from growthloop.core.runtime import Runtime
from growthloop.identity import bulk as identity_bulk
from tests.helpers import make_shop
from tests.identity.support import login


async def test_imported_consents_are_the_members_decisions(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member = new_id()
    async with rt.db.unit_of_work() as uow:
        arrival = identity_bulk.Arrival(
            member_id=member, platform="dev", openid="consented", joined_at=rt.clock.now()
        )
        await identity_bulk.import_members(uow.session, shop.merchant_id, [arrival])
        decisions = [
            bulk.Decision(member, "membership", True, "first_payment", "dev"),
            bulk.Decision(member, "marketing", False, "import", "dev"),
        ]
        assert await bulk.import_decisions(uow.session, shop.merchant_id, decisions) == 2
    came = await login(client, shop.merchant_id, "consented")
    consents = (await client.get("/v1/me/consents", headers=came["headers"])).json()
    assert consents["consents"]["membership"]["granted"] is True
    assert consents["consents"]["marketing"]["granted"] is False
    assert consents["consents"]["marketing"]["platform"] == "dev"

    bad = [
        [
            bulk.Decision(member, "analytics", True, "import"),
            bulk.Decision(member, "nosuch", True, "import"),
        ],
        [
            bulk.Decision(member, "analytics", True, "import"),
            bulk.Decision(member, "analytics", False, "import"),
        ],
    ]
    for decisions, error in zip(bad, (UnknownPurpose, ValueError), strict=True):
        with pytest.raises(error):
            async with rt.db.unit_of_work() as uow:
                await bulk.import_decisions(uow.session, shop.merchant_id, decisions)
    async with rt.db.unit_of_work(write=False) as uow:
        records = await uow.session.scalar(
            select(func.count()).select_from(ConsentRecord).where(ConsentRecord.member_id == member)
        )
    assert records == 2
