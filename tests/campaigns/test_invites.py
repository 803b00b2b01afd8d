"""Invite rewards through the API: sign-ups and first orders bring rewards, once each."""

from __future__ import annotations

from typing import Any

import httpx

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, assert_error, bearer, make_shop


async def _template(shop: Shop, value: int = 1000, obtain: str = "grant") -> dict[str, Any]:
    """A reward coupon: granted only, as a reward must be."""
    body = {"name": f"邀请券{value}", "kind": "amount_off", "value": value, "obtain": obtain}
    r = await shop.client.post("/v1/admin/coupons", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _rule(shop: Shop, **body: Any) -> dict[str, Any]:
    r = await shop.client.post("/v1/admin/invite-rules", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _login(shop: Shop, code: str, referrer_code: str | None = None) -> dict[str, str]:
    body = {"merchant_id": shop.merchant_id, "platform": "dev", "code": code}
    if referrer_code:
        body["referrer_code"] = referrer_code
    r = await shop.client.post("/v1/auth/login", json=body)
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


async def _coupons(shop: Shop, member: dict[str, str]) -> list[str]:
    r = await shop.client.get("/v1/me/coupons", headers=member)
    return [c["template_id"] for c in r.json()["items"]]


async def test_three_friends_sign_up_and_both_sides_get_a_coupon(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    template = await _template(shop)
    rule = await _rule(
        shop,
        name="邀请3位好友各得10元券",
        trigger="registration",
        invites_needed=3,
        inviter_reward={"coupon_template_id": template["id"]},
        invitee_reward={"coupon_template_id": template["id"]},
    )
    old_friend = await _login(shop, "old-friend")  # a member already
    alice = await _login(shop, "alice")
    code = (await client.get("/v1/me/referral", headers=alice)).json()["referrer_code"]
    await _login(shop, "old-friend", code)  # not new: does not count
    friends = [await _login(shop, f"friend-{i}", code) for i in range(4)]
    await _login(shop, "friend-0", code)  # logging in again counts nothing

    assert await _coupons(shop, old_friend) == []
    for friend in friends:
        assert await _coupons(shop, friend) == [template["id"]]
    assert await _coupons(shop, alice) == [template["id"]]  # once, at the third friend
    r = await client.get("/v1/me/invites", headers=alice)
    [progress] = r.json()["rules"]
    assert (progress["qualified"], progress["rewards_earned"], progress["next_reward_in"]) == (
        4,
        1,
        None,
    )
    r = await client.get(f"/v1/admin/invite-rules/{rule['id']}", headers=shop.admin)
    assert r.json()["qualified"] == 4


async def test_first_paid_order_and_repeating_points(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    before = await _login(shop, "before")  # signed up before the rule
    clock.advance(minutes=1)
    await _rule(
        shop,
        name="好友首单送积分",
        trigger="first_order",
        invites_needed=2,
        repeat=True,
        inviter_reward={"points": 100},
        invitee_reward={"points": 50},
    )
    alice = await _login(shop, "alice")
    r = await client.put("/v1/me/consents", json={"membership": True}, headers=alice)
    code = (await client.get("/v1/me/referral", headers=alice)).json()["referrer_code"]
    await _login(shop, "before", code)
    product = await shop.product(price=1000, stock=20, options=[])
    friends = [await _login(shop, f"buyer-{i}", code) for i in range(4)]
    for friend in friends:
        await client.put("/v1/me/consents", json={"membership": True}, headers=friend)
        await shop.paid_order(friend, product["id"])
        await shop.paid_order(friend, product["id"])  # a second order brings nothing more
    await shop.paid_order(before, product["id"])

    r = await client.get("/v1/me/invites", headers=alice)
    [progress] = r.json()["rules"]
    assert (progress["qualified"], progress["rewards_earned"], progress["next_reward_in"]) == (
        4,
        2,
        2,
    )
    r = await client.get("/v1/me/points/ledger", headers=alice)
    assert sorted(e["delta"] for e in r.json()["items"] if e["reason"] == "invite") == [100, 100]
    r = await client.get("/v1/me/points/ledger", headers=friends[0])
    assert [e["delta"] for e in r.json()["items"] if e["reason"] == "invite"] == [50]


async def test_bad_rules_and_other_merchants(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    other = await make_shop(client, rt, "别家")
    foreign = await _template(other)
    url = "/v1/admin/invite-rules"
    base = {"name": "邀请", "trigger": "registration", "inviter_reward": {"points": 10}}
    for bad in (
        {"inviter_reward": None},
        {"inviter_reward": {}},
        {"trigger": "login"},
        {"invites_needed": 0},
        {"inviter_reward": {"points": 1.5}},
        {"inviter_reward": {"points": -5}},
        {"extra": 1},
    ):
        assert_error(await client.post(url, json={**base, **bad}, headers=shop.admin), 422)
    # A reward template must be the shop's own (422 naming it, whoever's it is), and one
    # members cannot claim for free.
    mine = await _template(shop)
    nothing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    for role, wrong in (("invitee", foreign["id"]), ("inviter", nothing)):
        body = {
            **base,
            "invitee_reward": {"coupon_template_id": mine["id"]},
            f"{role}_reward": {"coupon_template_id": wrong},
        }
        r = await client.post(url, json=body, headers=shop.admin)
        error = assert_error(r, 422, "unknown_coupon_template")
        field = f"{role}_reward.coupon_template_id"
        assert error["details"] == {"field": field, "id": wrong, "ids": [wrong]}
    claimable = await _template(shop, 500, obtain="claim")
    r = await client.post(
        url,
        json={**base, "inviter_reward": {"coupon_template_id": claimable["id"]}},
        headers=shop.admin,
    )
    error = assert_error(r, 422, "coupon_template_claimable")
    assert error["details"] == {
        "field": "inviter_reward.coupon_template_id",
        "template_id": claimable["id"],
    }
    assert (await client.get(url, headers=shop.admin)).json()["items"] == []
    rule = await _rule(shop, **base)
    assert_error(await client.get(f"{url}/{rule['id']}", headers=other.admin), 403)
    r = await client.post(f"{url}/{rule['id']}/end", headers=shop.admin)
    assert r.status_code == 200 and r.json()["status"] == "ended"
    assert_error(await client.post(f"{url}/{rule['id']}/end", headers=shop.admin), 409)
