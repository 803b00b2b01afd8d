"""Share tracking through the API: codes, opens, sign-ups, purchases and helps."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from growthloop.campaigns.shares.models import ShareVisit
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, assert_error, bearer, make_shop


async def _login(shop: Shop, code: str, share_code: str | None = None) -> dict[str, str]:
    body = {"merchant_id": shop.merchant_id, "platform": "dev", "code": code}
    if share_code:
        body["share_code"] = share_code
    r = await shop.client.post("/v1/auth/login", json=body)
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


async def _visits(rt: Runtime, code: str) -> list[tuple[str, str | None]]:
    async with rt.db.unit_of_work(write=False) as uow:
        rows = await uow.session.execute(
            select(ShareVisit.kind, ShareVisit.ref).where(ShareVisit.code == code)
        )
        return sorted((k, r) for k, r in rows)


async def _share(shop: Shop, member: dict[str, str], **body: Any) -> httpx.Response:
    return await shop.client.post("/v1/shares", json=body, headers=member)


async def test_a_shared_link_brings_a_sign_up_and_a_purchase(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1800, stock=10, options=[])
    alice = await _login(shop, "alice")
    r = await _share(shop, alice, target_type="product", target_id=product["id"], channel="poster")
    assert r.status_code == 201, r.text
    share = r.json()
    assert len(share["scene"]) <= 32 and share["scene"] == f"s={share['code']}"
    again = await _share(
        shop, alice, target_type="product", target_id=product["id"], channel="poster"
    )
    assert again.status_code == 200 and again.json()["code"] == share["code"]
    other_channel = await _share(shop, alice, target_type="product", target_id=product["id"])
    assert other_channel.json()["code"] != share["code"]

    url = f"/v1/shares/{share['code']}/open"
    anon = {"distinct_id": "device-bob-1"}
    for _ in range(2):  # one device, counted once
        r = await client.post(url, json=anon, params={"merchant_id": shop.merchant_id})
        assert r.status_code == 200, r.text
        assert (r.json()["target_type"], r.json()["target_id"]) == ("product", product["id"])
    r = await client.post(url, headers=alice)
    assert r.json()["mine"] is True  # one's own open counts nothing

    bob = await _login(shop, "bob", share["code"])
    await shop.paid_order(bob, product["id"])
    kinds = [k for k, _ in await _visits(rt, share["code"])]
    assert kinds == ["open", "purchase", "register"]
    r = await client.get("/v1/me/shares", headers=alice)
    mine = {s["code"]: s for s in r.json()["items"]}[share["code"]]
    assert (mine["opens"], mine["registrations"], mine["purchases"]) == (1, 1, 1)
    # A code is read off a poster: lower case or a stray space still works.
    r = await client.post(f"/v1/shares/{share['code'].lower()}/open", headers=bob)
    assert r.status_code == 200


async def test_a_shared_bargain_brings_helps(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=5000, stock=5, options=[])
    body = {
        "product_id": product["id"],
        "original_price": 5000,
        "floor_price": 1000,
        "helpers_needed": 3,
        "duration_minutes": 600,
    }
    bargain = (await client.post("/v1/admin/bargains", json=body, headers=shop.admin)).json()
    carol = await _login(shop, "carol")
    instance = (await client.post(f"/v1/bargains/{bargain['id']}/start", headers=carol)).json()
    share = (
        await _share(shop, carol, target_type="bargain_instance", target_id=instance["id"])
    ).json()
    dave = await _login(shop, "dave", share["code"])
    r = await client.post(f"/v1/bargain-instances/{instance['id']}/help", headers=dave)
    assert r.status_code == 200, r.text
    assert [k for k, _ in await _visits(rt, share["code"])] == ["help", "register"]


async def test_bad_shares_and_other_merchants(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    alice = await _login(shop, "alice")
    for bad in (
        {"target_type": "spaceship", "target_id": "x"},
        {"target_type": "product", "target_id": ""},
        {"target_type": "product", "target_id": "x" * 65},
        {"target_type": "product", "target_id": "x", "channel": "fax"},
        {"target_type": "product"},
    ):
        assert_error(await _share(shop, alice, **bad), 422)
    share = (await _share(shop, alice, target_type="page", target_id="home")).json()
    other = await make_shop(client, rt, "别家")
    stranger = await _login(other, "stranger")
    assert_error(await client.post(f"/v1/shares/{share['code']}/open", headers=stranger), 403)
    assert_error(
        await client.post("/v1/shares/NOSUCHCD/open", headers=alice), 404, "share_not_found"
    )
    # An unknown share code at login binds nothing and never fails the login.
    await _login(shop, "newcomer", "NOSUCHCD")
    assert await _visits(rt, share["code"]) == []
