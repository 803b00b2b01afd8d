"""Marketing reaches only members who consent to it, and stops when they withdraw."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from growthloop.core.runtime import Runtime
from growthloop.engagement.models import Broadcast
from tests.helpers import assert_error, make_shop


async def _inbox(client: httpx.AsyncClient, member: dict[str, str]) -> list[str]:
    r = await client.get("/v1/me/inbox", headers=member)
    assert r.status_code == 200, r.text
    return [m["title"] for m in r.json()["items"]]


async def test_marketing_follows_consent(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    fan = await shop.member("fan")
    quiet = await shop.member("quiet")
    await shop.member("undecided")
    assert (
        await client.put("/v1/me/consents", json={"marketing": True}, headers=fan)
    ).status_code == 200
    assert (
        await client.put("/v1/me/consents", json={"marketing": False}, headers=quiet)
    ).status_code == 200

    r = await client.post(
        "/v1/admin/broadcasts",
        json={"title": "新品上市", "body": "杨枝甘露第二杯半价"},
        headers=shop.admin,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["sent"], r.json()["skipped_no_consent"]) == (1, 2)
    assert await _inbox(client, fan) == ["新品上市"]
    assert await _inbox(client, quiet) == []

    # Withdrawn: the next message does not come.
    await client.put("/v1/me/consents", json={"marketing": False}, headers=fan)
    r = await client.post(
        "/v1/admin/broadcasts", json={"title": "周末特惠", "body": "全场八折"}, headers=shop.admin
    )
    assert r.json()["sent"] == 0
    assert await _inbox(client, fan) == ["新品上市"]

    analyst = await shop.staff("analyst")
    r = await client.post("/v1/admin/broadcasts", json={"title": "x", "body": "y"}, headers=analyst)
    assert_error(r, 403)
    r = await client.post(
        "/v1/admin/broadcasts", json={"title": "", "body": "y"}, headers=shop.admin
    )
    assert_error(r, 422)


async def _member_id(client: httpx.AsyncClient, member: dict[str, str]) -> str:
    r = await client.get("/v1/me", headers=member)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def test_a_list_naming_another_merchants_member_is_refused(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    other = await make_shop(client, rt, "别家店")
    fan = await shop.member("fan")
    theirs = await other.member("their-fan")
    for headers in (fan, theirs):
        r = await client.put("/v1/me/consents", json={"marketing": True}, headers=headers)
        assert r.status_code == 200, r.text
    fan_id, their_id = await _member_id(client, fan), await _member_id(client, theirs)
    nothing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

    body = {"title": "新品上市", "body": "第二杯半价", "member_ids": [fan_id, their_id, nothing]}
    r = await client.post("/v1/admin/broadcasts", json=body, headers=shop.admin)
    error = assert_error(r, 422, "unknown_member")
    assert error["details"] == {"field": "member_ids", "id": their_id, "ids": [their_id, nothing]}
    assert their_id in error["message"]
    # Refused whole: no one got it, no broadcast was recorded.
    assert await _inbox(client, fan) == []
    assert await _inbox(client, theirs) == []
    async with rt.db.unit_of_work(write=False) as uow:
        count = await uow.session.scalar(select(func.count()).select_from(Broadcast))
    assert count == 0

    body["member_ids"] = [fan_id, fan_id]
    r = await client.post("/v1/admin/broadcasts", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    assert (r.json()["sent"], r.json()["skipped_no_consent"]) == (1, 0)
    assert await _inbox(client, fan) == ["新品上市"]
