"""Operators manage rewards: what each kind needs, windows, stock changes, the shelf."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from growthloop.core.audit import AuditEntry
from growthloop.core.clock import FrozenClock
from growthloop.core.pagination import encode_cursor
from growthloop.core.runtime import Runtime
from tests.helpers import assert_error, make_shop
from tests.mall.support import SHIPPING, earn, program, redeem, reward


async def test_each_kind_needs_what_it_gives(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product()
    r = await client.post(
        "/v1/admin/coupons",
        json={"name": "5元券", "kind": "amount_off", "value": 500, "obtain": "grant"},
        headers=shop.admin,
    )
    template = r.json()
    base: dict[str, Any] = {"name": "礼品", "points_cost": 100}
    bad = [
        {"kind": "coupon"},  # no template
        {"kind": "coupon", "template_id": template["id"], "product_id": product["id"]},
        {"kind": "product", "stock": 5},  # no product
        {"kind": "product", "product_id": product["id"]},  # no stock
        {"kind": "physical"},  # no stock
        {"kind": "physical", "stock": 5, "template_id": template["id"]},
        {"kind": "lottery", "stock": 5},
        {"kind": "physical", "stock": 5, "points_cost": 0},
        {"kind": "physical", "stock": 5, "points_cost": "100"},
        {"kind": "physical", "stock": -1},
        {"kind": "physical", "stock": 5, "per_member_limit": 0},
        {"kind": "physical", "stock": 5, "name": " "},
        {"kind": "physical", "stock": 5, "image_url": "not a url"},
        {"kind": "physical", "stock": 5, "sort": 1.5},
        {"kind": "physical", "stock": 5, "active": "yes"},
        {"kind": "physical", "stock": 5, "colour": "red"},
        {"kind": "physical", "stock": 5, "shown_from": "2026-03-01T00:00:00"},  # naive
    ]
    for extra in bad:
        r = await client.post("/v1/admin/mall/rewards", json={**base, **extra}, headers=shop.admin)
        assert_error(r, 422, "invalid_input")
    # What a reward gives must be the shop's own: an id of nothing and another merchant's
    # id are the same 422, naming the field and the id.
    other = await make_shop(client, rt, "别家")
    theirs = await other.product()
    r = await client.post(
        "/v1/admin/coupons",
        json={"name": "别家券", "kind": "amount_off", "value": 500, "obtain": "grant"},
        headers=other.admin,
    )
    their_template = r.json()
    nothing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    for kind, field, code, wrong in (
        ("product", "product_id", "unknown_product", nothing),
        ("product", "product_id", "unknown_product", theirs["id"]),
        ("coupon", "template_id", "unknown_coupon_template", nothing),
        ("coupon", "template_id", "unknown_coupon_template", their_template["id"]),
    ):
        body = {**base, "kind": kind, field: wrong, **({"stock": 5} if kind == "product" else {})}
        r = await client.post("/v1/admin/mall/rewards", json=body, headers=shop.admin)
        error = assert_error(r, 422, code)
        assert error["details"] == {"field": field, "id": wrong, "ids": [wrong]}
        assert wrong in error["message"]
    # A coupon members can claim for free is no reward to pay points for.
    r = await client.post(
        "/v1/admin/coupons",
        json={"name": "免费领", "kind": "amount_off", "value": 500},
        headers=shop.admin,
    )
    claimable = r.json()
    r = await client.post(
        "/v1/admin/mall/rewards",
        json={**base, "kind": "coupon", "template_id": claimable["id"]},
        headers=shop.admin,
    )
    error = assert_error(r, 422, "coupon_template_claimable")
    assert error["details"] == {"field": "template_id", "template_id": claimable["id"]}
    assert error["message"] == (
        f"template_id: members can claim coupon template {claimable['id']} for free; make it "
        f'granted-only (PATCH /v1/admin/coupons/{claimable["id"]} {{"obtain": "grant"}}) to '
        "give it as a reward."
    )
    assert (await client.get("/v1/admin/mall/rewards", headers=shop.admin)).json()["items"] == []

    coupon = await reward(shop, kind="coupon", template_id=template["id"], stock=None)
    assert (coupon["stock"], coupon["stock_left"], coupon["template_id"]) == (
        None,
        None,
        template["id"],
    )
    voucher = await reward(
        shop,
        kind="product",
        product_id=product["id"],
        stock=20,
        description="到店出示兑换码",
        image_url="https://img.example.com/tea.png",
    )
    assert (voucher["product_id"], voucher["stock_left"]) == (product["id"], 20)
    assert voucher["image_url"] == "https://img.example.com/tea.png"


async def test_windows_are_validated(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    now = clock.now()

    def at(days: int) -> str:
        return (now + timedelta(days=days)).isoformat()

    bad = [
        {"shown_from": at(5), "shown_until": at(5)},
        {"shown_from": at(5), "shown_until": at(1)},
        {"shown_from": at(1), "redeem_from": at(0)},  # redemption opens before display
        {"shown_until": at(5), "redeem_until": at(6)},  # closes after display ends
        {"redeem_from": at(3), "redeem_until": at(2)},
        {"shown_until": at(5), "redeem_from": at(5)},
        {"shown_from": at(5), "redeem_until": at(5)},
        {"shown_from": "1999-12-31T00:00:00+00:00"},
    ]
    for windows in bad:
        r = await client.post(
            "/v1/admin/mall/rewards",
            json={"kind": "physical", "name": "礼品", "points_cost": 1, "stock": 1, **windows},
            headers=shop.admin,
        )
        assert_error(r, 422, "invalid_input")
    gift = await reward(shop, shown_from=at(1), shown_until=at(9), redeem_from=at(2))
    path = f"/v1/admin/mall/rewards/{gift['id']}"
    # A patch is checked together with what it leaves unchanged.
    assert_error(
        await client.patch(path, json={"shown_from": at(3)}, headers=shop.admin),
        422,
        "invalid_reward",
    )
    assert_error(
        await client.patch(path, json={"redeem_until": at(10)}, headers=shop.admin),
        422,
        "invalid_reward",
    )
    r = await client.patch(
        path, json={"redeem_from": None, "shown_until": None}, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    assert (r.json()["redeem_from"], r.json()["shown_until"]) == (None, None)


async def test_patch_stock_and_terms(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    await earn(shop, member, 1000)
    gift = await reward(shop, points_cost=100, stock=5)
    r = await redeem(shop, member, gift["id"], quantity=3, shipping=SHIPPING)
    assert r.status_code == 201, r.text
    path = f"/v1/admin/mall/rewards/{gift['id']}"

    r = await client.patch(path, json={"stock": 2}, headers=shop.admin)
    error = assert_error(r, 409, "stock_below_redeemed")
    assert error["details"] == {"stock": 2, "redeemed": 3}
    for body in ({"stock": None}, {"name": None}, {"points_cost": 0}, {"kind": "coupon"}):
        r = await client.patch(path, json=body, headers=shop.admin)
        assert r.status_code == 422, (body, r.text)
    r = await client.get(path, headers=shop.admin)
    assert (r.json()["stock"], r.json()["name"], r.json()["points_cost"]) == (
        5,
        gift["name"],
        100,
    )

    r = await client.patch(
        path,
        json={"stock": 3, "points_cost": 150, "name": "限量帆布袋", "description": "新款"},
        headers=shop.admin,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["stock"], r.json()["stock_left"], r.json()["points_cost"]) == (3, 0, 150)
    assert (r.json()["name"], r.json()["description"]) == ("限量帆布袋", "新款")
    assert_error(await redeem(shop, member, gift["id"], shipping=SHIPPING), 409, "reward_sold_out")
    r = await client.patch(path, json={"stock": 4}, headers=shop.admin)
    r = await redeem(shop, member, gift["id"], shipping=SHIPPING)
    assert r.status_code == 201 and r.json()["points"] == 150

    marketing = await shop.staff("support")  # support handles orders, not marketing
    assert_error(await client.patch(path, json={"sort": 1}, headers=marketing), 403, "forbidden")
    async with rt.db.unit_of_work(write=False) as uow:
        stmt = select(AuditEntry.action, AuditEntry.details).where(
            AuditEntry.subject_id == gift["id"]
        )
        audit = [tuple(row) for row in await uow.session.execute(stmt)]
    assert audit == [
        ("mall.reward.create", {}),
        ("mall.reward.update", {"fields": ["description", "name", "points_cost", "stock"]}),
        ("mall.reward.update", {"fields": ["stock"]}),
    ]


async def test_the_shelf_shows_what_is_on_display(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    now = clock.now()
    later = (now + timedelta(days=1)).isoformat()
    over = (now - timedelta(seconds=1)).isoformat()
    first = await reward(shop, name="第一", sort=-5)
    third = await reward(shop, name="第三", sort=10)
    second = await reward(shop, name="第二", sort=0)
    fourth = await reward(shop, name="第四", sort=10)
    await reward(shop, name="未上架", active=False)
    await reward(shop, name="明天上架", shown_from=later)
    await reward(
        shop, name="已下架", shown_from=(now - timedelta(days=2)).isoformat(), shown_until=over
    )

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/v1/mall/rewards", params=params, headers=member)
        assert r.status_code == 200, r.text
        seen += [x["name"] for x in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ["第一", "第二", "第三", "第四"]
    r = await client.get("/v1/mall/rewards", headers=member)
    items = {x["id"]: x for x in r.json()["items"]}
    assert set(items) == {first["id"], second["id"], third["id"], fourth["id"]}
    # On show, in stock, within its window; 100 points the member does not have.
    assert (items[first["id"]]["redeemable"], items[first["id"]]["unavailable_reason"]) == (
        False,
        "insufficient_points",
    )
    assert items[first["id"]]["stock_left"] == 10
    r = await client.get("/v1/admin/mall/rewards", params={"limit": 100}, headers=shop.admin)
    assert len(r.json()["items"]) == 7

    # Nothing off the shelf is reachable by id either.
    hidden = await reward(shop, name="隐藏", active=False)
    assert_error(
        await client.get(f"/v1/mall/rewards/{hidden['id']}", headers=member),
        404,
        "reward_not_found",
    )
    r = await client.patch(
        f"/v1/admin/mall/rewards/{hidden['id']}", json={"active": True}, headers=shop.admin
    )
    assert r.status_code == 200
    assert (await client.get(f"/v1/mall/rewards/{hidden['id']}", headers=member)).status_code == 200

    # A cursor naming another merchant's reward is no cursor of this list.
    other = await make_shop(client, rt, "别家")
    theirs = await reward(other)
    r = await client.get(
        "/v1/mall/rewards", params={"cursor": encode_cursor(theirs["id"])}, headers=member
    )
    assert_error(r, 422, "invalid_cursor")
