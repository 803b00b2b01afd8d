"""Marketing reaches only members who consent to it, and stops when they withdraw."""

from __future__ import annotations

import httpx

from growthloop.core.runtime import Runtime
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
