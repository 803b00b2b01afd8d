"""A share names its target by id: it must be one of the shop's own (422 naming it)."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from growthloop.campaigns.shares.models import ShareCode
from growthloop.core.runtime import Runtime
from tests.campaigns.support import flash_sale
from tests.helpers import assert_error, make_shop


async def test_a_share_of_another_merchants_object_is_refused(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    other = await make_shop(client, rt, "别家")
    member = await shop.member()
    mine = await shop.product(price=1800, stock=10, options=[])
    theirs = await other.product(price=1800, stock=10, options=[])
    their_sale = await flash_sale(other, theirs["id"], stock=2)
    nothing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    for target_type, wrong, code in (
        ("product", theirs["id"], "unknown_product"),
        ("product", nothing, "unknown_product"),
        ("flash_sale", their_sale["id"], "unknown_flash_sale"),
        ("flash_sale", mine["id"], "unknown_flash_sale"),  # a product is no flash sale
        ("group", nothing, "unknown_buy_group"),
        ("bargain_instance", "not-an-id", "unknown_bargain_instance"),
        ("lottery", nothing, "unknown_lottery"),
    ):
        body = {"target_type": target_type, "target_id": wrong}
        r = await client.post("/v1/shares", json=body, headers=member)
        error = assert_error(r, 422, code)
        assert error["details"] == {"field": "target_id", "id": wrong, "ids": [wrong]}
    async with rt.db.unit_of_work(write=False) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(ShareCode)) == 0

    for body in (
        {"target_type": "product", "target_id": mine["id"]},
        {"target_type": "page", "target_id": "pages/index/index"},  # a path, not an id
    ):
        r = await client.post("/v1/shares", json=body, headers=member)
        assert r.status_code == 201, r.text
        assert (r.json()["target_type"], r.json()["target_id"]) == tuple(body.values())
