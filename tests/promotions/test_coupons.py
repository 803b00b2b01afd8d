"""Coupons through the API: templates of both kinds, claiming, the wallet, validity, issuing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from growthloop.core import events, references
from growthloop.core.audit import AuditEntry
from growthloop.core.clock import FrozenClock
from growthloop.core.ids import new_id
from growthloop.core.runtime import Runtime
from growthloop.identity.models import Member
from growthloop.promotions import errors, service
from growthloop.promotions.models import Coupon, CouponClaimCount, CouponTemplate
from tests.helpers import assert_error, make_shop
from tests.promotions.support import claim, line, member_id, my_coupons, quote, template


async def test_amount_off_claim_and_wallet(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    t = await template(shop, name="满30减5", value=500, min_spend=3000, total=100, valid_days=7)
    assert t["kind"] == "amount_off" and t["value"] == 500 and t["min_spend"] == 3000
    assert (t["total"], t["claimed"], t["remaining"], t["per_member_limit"]) == (100, 0, 100, 1)
    assert t["active"] is True and t["max_discount"] is None

    member = await shop.member()
    r = await client.get("/v1/coupons", headers=member)
    assert [x["id"] for x in r.json()["items"]] == [t["id"]]
    assert "claimed" not in r.json()["items"][0]  # operator figures stay in the console

    coupon = await claim(shop, member, t["id"])
    assert coupon["template_id"] == t["id"] and coupon["name"] == "满30减5"
    assert (coupon["kind"], coupon["value"], coupon["min_spend"]) == ("amount_off", 500, 3000)
    assert coupon["status"] == "available" and coupon["source"] == "claim"
    assert coupon["order_id"] is None and coupon["used_at"] is None
    now = clock.now()
    assert coupon["valid_from"] == now.isoformat().replace("+00:00", "Z")
    assert coupon["valid_until"] == (now + timedelta(days=7)).isoformat().replace("+00:00", "Z")

    r = await client.post(f"/v1/coupons/{t['id']}/claim", headers=member)
    assert_error(r, 409, "limit_reached")
    assert [c["id"] for c in await my_coupons(client, member)] == [coupon["id"]]
    assert [c["id"] for c in await my_coupons(client, member, "available")] == [coupon["id"]]
    assert await my_coupons(client, member, "used") == []

    r = await client.get(f"/v1/admin/coupons/{t['id']}", headers=shop.admin)
    assert (r.json()["claimed"], r.json()["remaining"]) == (1, 99)


async def test_percent_off_rounds_half_up_and_caps(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    mid = await member_id(client, member)
    plain = await template(shop, name="85折", kind="percent_off", value=15)
    capped = await template(
        shop, name="8折最高减3元", kind="percent_off", value=20, max_discount=300
    )
    assert capped["max_discount"] == 300
    c_plain = await claim(shop, member, plain["id"])
    c_capped = await claim(shop, member, capped["id"])

    # 15% of 12.30 is 1.845 -> 1.85 (half-up); of 12.29 is 1.8435 -> 1.84.
    for amount, discount in [(1230, 185), (1229, 184)]:
        q = await quote(rt, shop, mid, c_plain["id"], [line(amount)])
        assert (q.discount, q.eligible_amount) == (discount, amount)
    # 20% of 10.00 is 2.00 (under the cap); of 30.00 is 6.00, capped at 3.00.
    assert (await quote(rt, shop, mid, c_capped["id"], [line(1000)])).discount == 200
    assert (await quote(rt, shop, mid, c_capped["id"], [line(1500), line(1500)])).discount == 300

    # A percentage of a few fen that rounds to nothing takes nothing off: not applicable.
    with pytest.raises(errors.CouponNotApplicable):
        await quote(rt, shop, mid, c_plain["id"], [line(3)])


async def test_amount_off_never_exceeds_the_eligible_amount(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    mid = await member_id(client, member)
    c = await claim(shop, member, (await template(shop, value=2000))["id"])
    q = await quote(rt, shop, mid, c["id"], [line(800), line(400)])
    assert (q.discount, q.eligible_amount, q.coupon_id) == (1200, 1200, c["id"])


async def test_min_spend_applies_to_the_in_scope_amount(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    milk_tea = await shop.product(category="奶茶")
    fruit_tea = await shop.product(category="果茶")
    cake = await shop.product(category="甜点")
    member = await shop.member()
    mid = await member_id(client, member)
    t = await template(
        shop,
        value=500,
        min_spend=3000,
        product_ids=[cake["id"]],
        category_ids=[milk_tea["category_id"]],
    )
    assert t["product_ids"] == [cake["id"]] and t["category_ids"] == [milk_tea["category_id"]]
    c = await claim(shop, member, t["id"])
    tea = line(2000, milk_tea["id"], milk_tea["category_id"])
    fruit = line(5000, fruit_tea["id"], fruit_tea["category_id"])
    sweet = line(1000, cake["id"], cake["category_id"])

    q = await quote(rt, shop, mid, c["id"], [tea, fruit, sweet])
    assert (q.eligible_amount, q.discount) == (3000, 500)

    # 70 yuan in the basket, but only 20 of it in scope: the 30 yuan threshold is not met.
    with pytest.raises(errors.MinSpendNotMet) as err:
        await quote(rt, shop, mid, c["id"], [tea, fruit])
    assert err.value.details["min_spend"] == 3000
    assert err.value.details["eligible_amount"] == 2000
    with pytest.raises(errors.CouponNotApplicable):
        await quote(rt, shop, mid, c["id"], [fruit])


async def test_fixed_window(client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock) -> None:
    shop = await make_shop(client, rt)
    start = clock.now()
    t = await template(
        shop,
        valid_from=(start + timedelta(days=1)).isoformat(),
        valid_until=(start + timedelta(days=3)).isoformat(),
    )
    member = await shop.member()
    mid = await member_id(client, member)
    c = await claim(shop, member, t["id"])  # claimable before the window opens
    assert c["valid_from"] == t["valid_from"] and c["valid_until"] == t["valid_until"]
    with pytest.raises(errors.CouponNotAvailable):
        await quote(rt, shop, mid, c["id"], [line(1000)])

    clock.set(start + timedelta(days=1))
    assert (await quote(rt, shop, mid, c["id"], [line(1000)])).discount == 500

    clock.set(start + timedelta(days=3))
    with pytest.raises(errors.CouponNotAvailable):
        await quote(rt, shop, mid, c["id"], [line(1000)])
    assert [x["status"] for x in await my_coupons(client, member)] == ["expired"]
    assert [x["id"] for x in await my_coupons(client, member, "expired")] == [c["id"]]
    assert await my_coupons(client, member, "available") == []
    other = await shop.member()
    r = await client.post(f"/v1/coupons/{t['id']}/claim", headers=other)
    assert_error(r, 409, "coupon_expired")
    r = await client.get("/v1/coupons", headers=other)
    assert r.json()["items"] == []


async def test_valid_days_count_from_the_claim(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    t = await template(shop, valid_days=2, per_member_limit=2)
    member = await shop.member()
    mid = await member_id(client, member)
    first = await claim(shop, member, t["id"])
    clock.advance(days=1)
    second = await claim(shop, member, t["id"])

    clock.advance(days=1, seconds=-1)
    assert (await quote(rt, shop, mid, first["id"], [line(1000)])).discount == 500
    clock.advance(seconds=1)  # exactly two days after the first claim
    with pytest.raises(errors.CouponNotAvailable):
        await quote(rt, shop, mid, first["id"], [line(1000)])
    assert (await quote(rt, shop, mid, second["id"], [line(1000)])).discount == 500
    statuses = {x["id"]: x["status"] for x in await my_coupons(client, member)}
    assert statuses == {first["id"]: "expired", second["id"]: "available"}


async def test_total_runs_out(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    t = await template(shop, total=1)
    await claim(shop, await shop.member(), t["id"])
    other = await shop.member()
    assert_error(
        await client.post(f"/v1/coupons/{t['id']}/claim", headers=other), 409, "coupon_sold_out"
    )
    r = await client.get("/v1/coupons", headers=other)
    assert r.json()["items"] == []  # sold out: no longer offered
    r = await client.get(f"/v1/admin/coupons/{t['id']}", headers=shop.admin)
    assert (r.json()["claimed"], r.json()["remaining"]) == (1, 0)


async def test_deactivated_template_is_neither_offered_nor_given(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    t = await template(shop)
    kept = await claim(shop, member, t["id"])
    r = await client.patch(
        f"/v1/admin/coupons/{t['id']}", json={"active": False}, headers=shop.admin
    )
    assert r.status_code == 200 and r.json()["active"] is False, r.text

    other = await shop.member()
    r = await client.post(f"/v1/coupons/{t['id']}/claim", headers=other)
    assert_error(r, 409, "coupon_inactive")
    assert (await client.get("/v1/coupons", headers=other)).json()["items"] == []
    r = await client.post(
        f"/v1/admin/coupons/{t['id']}/issue",
        json={"member_ids": [await member_id(client, other)]},
        headers=shop.admin,
    )
    assert_error(r, 409, "coupon_inactive")
    # A coupon already in a wallet stays usable.
    assert [c["status"] for c in await my_coupons(client, member)] == ["available"]
    assert kept["status"] == "available"


async def test_operator_issues_to_a_list(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    other_shop = await make_shop(client, rt, "别家店")
    a, b, c = [await shop.member() for _ in range(3)]
    ids = [await member_id(client, m) for m in (a, b, c)]
    stranger = await member_id(client, await other_shop.member())
    t = await template(shop, total=3, per_member_limit=1)
    await claim(shop, a, t["id"])

    # Another merchant's member, or an id of no member, refuses the whole list.
    unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    body = {"member_ids": [ids[0], ids[1], stranger, ids[2], unknown]}
    r = await client.post(f"/v1/admin/coupons/{t['id']}/issue", json=body, headers=shop.admin)
    error = assert_error(r, 422, "unknown_member")
    assert error["details"] == {"field": "member_ids", "id": stranger, "ids": [stranger, unknown]}
    assert stranger in error["message"]
    assert [await my_coupons(client, m) for m in (b, c)] == [[], []]

    # A member of the shop whose account is deleted is skipped; the others get theirs.
    gone = await shop.member()
    gone_id = await member_id(client, gone)
    async with rt.db.unit_of_work() as uow:
        await uow.session.execute(
            update(Member).where(Member.id == gone_id).values(status="deleted")
        )
    body = {"member_ids": [ids[0], ids[1], ids[1], gone_id, ids[2]]}
    r = await client.post(f"/v1/admin/coupons/{t['id']}/issue", json=body, headers=shop.admin)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["template_id"], out["issued"], out["skipped"]) == (t["id"], 2, 2)
    outcome = {x["member_id"]: (x["issued"], x["reason"]) for x in out["results"]}
    assert outcome == {
        ids[0]: (False, "limit_reached"),
        ids[1]: (True, None),
        gone_id: (False, "member_not_found"),
        ids[2]: (True, None),
    }
    issued = [x["coupon_id"] for x in out["results"] if x["issued"]]
    assert [x["id"] for x in await my_coupons(client, b)] == [issued[0]]
    assert (await my_coupons(client, c))[0]["source"] == "issue"

    # Sold out now (3 of 3): a further member is skipped, not an error for the batch.
    d = await shop.member()
    r = await client.post(
        f"/v1/admin/coupons/{t['id']}/issue",
        json={"member_ids": [await member_id(client, d)]},
        headers=shop.admin,
    )
    assert r.json()["results"][0]["reason"] == "coupon_sold_out"

    async with rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        audits = (
            (await s.execute(select(AuditEntry).where(AuditEntry.action == "coupon.issue")))
            .scalars()
            .all()
        )
        rows = await s.execute(select(CouponClaimCount.member_id, CouponClaimCount.count))
        counts = {member: count for member, count in rows}
    assert [(x.subject_id, x.details) for x in audits] == [
        (t["id"], {"issued": 2, "skipped": 2}),
        (t["id"], {"issued": 0, "skipped": 1}),
    ]
    assert all(x.actor_type == "admin" and x.merchant_id == shop.merchant_id for x in audits)
    # The skipped members' counter increments were rolled back with their savepoints.
    assert counts == {ids[0]: 1, ids[1]: 1, ids[2]: 1}


async def test_claims_and_issues_emit_coupon_claimed(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    original = events.emit

    async def recording(session: Any, event: Any) -> None:
        seen.append(event)
        await original(session, event)

    monkeypatch.setattr(service, "emit", recording)
    shop = await make_shop(client, rt)
    a, b = await shop.member(), await shop.member()
    t = await template(shop, per_member_limit=1)
    coupon = await claim(shop, a, t["id"])
    await client.post(f"/v1/coupons/{t['id']}/claim", headers=a)  # refused: no event
    r = await client.post(
        f"/v1/admin/coupons/{t['id']}/issue",
        json={"member_ids": [await member_id(client, b)]},
        headers=shop.admin,
    )
    issued = r.json()["results"][0]["coupon_id"]
    assert [(e.name, e.merchant_id, e.payload) for e in seen] == [
        (
            "coupon.claimed",
            shop.merchant_id,
            {"template_id": t["id"], "coupon_id": coupon["id"], "source": "claim"},
        ),
        (
            "coupon.claimed",
            shop.merchant_id,
            {"template_id": t["id"], "coupon_id": issued, "source": "issue"},
        ),
    ]
    assert [e.member_id for e in seen] == [await member_id(client, a), await member_id(client, b)]


async def test_admin_list_is_paginated_newest_first(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    made = [(await template(shop, name=f"券{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/admin/coupons", params=params, headers=shop.admin)
        assert r.status_code == 200, r.text
        seen += [x["id"] for x in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


BAD_TEMPLATES: list[tuple[str, dict[str, Any]]] = [
    ("value negative", {"kind": "amount_off", "value": -500}),
    ("value zero", {"kind": "amount_off", "value": 0}),
    ("value float", {"kind": "amount_off", "value": 5.5}),
    ("value string", {"kind": "amount_off", "value": "500"}),
    ("value huge", {"kind": "amount_off", "value": 10**15}),
    ("percent 100", {"kind": "percent_off", "value": 100}),
    ("percent 150", {"kind": "percent_off", "value": 150}),
    ("unknown kind", {"kind": "free_shipping", "value": 500}),
    ("extra field", {"kind": "amount_off", "value": 500, "stackable": True}),
    ("min_spend negative", {"kind": "amount_off", "value": 500, "min_spend": -1}),
    ("min_spend float", {"kind": "amount_off", "value": 500, "min_spend": 30.0}),
    ("total zero", {"kind": "amount_off", "value": 500, "total": 0}),
    ("per member zero", {"kind": "amount_off", "value": 500, "per_member_limit": 0}),
    ("valid_days zero", {"kind": "amount_off", "value": 500, "valid_days": 0}),
    ("cap on amount_off", {"kind": "amount_off", "value": 500, "max_discount": 100}),
    ("cap zero", {"kind": "percent_off", "value": 20, "max_discount": 0}),
    (
        "both validity modes",
        {"kind": "amount_off", "value": 500, "valid_days": 3, "valid_until": "2026-04-01T00:00Z"},
    ),
    (
        "window backwards",
        {
            "kind": "amount_off",
            "value": 500,
            "valid_from": "2026-04-02T00:00:00+08:00",
            "valid_until": "2026-04-01T00:00:00+08:00",
        },
    ),
    ("naive time", {"kind": "amount_off", "value": 500, "valid_until": "2026-04-01T00:00:00"}),
    ("year 9999", {"kind": "amount_off", "value": 500, "valid_until": "9999-12-31T23:59:59-12:00"}),
    ("product id not an id", {"kind": "amount_off", "value": 500, "product_ids": ["奶茶"]}),
    ("active as string", {"kind": "amount_off", "value": 500, "active": "yes"}),
]


@pytest.mark.parametrize(("case", "body"), BAD_TEMPLATES, ids=[c[0] for c in BAD_TEMPLATES])
async def test_bad_templates_write_nothing(
    client: httpx.AsyncClient, rt: Runtime, case: str, body: dict[str, Any]
) -> None:
    shop = await make_shop(client, rt)
    r = await client.post("/v1/admin/coupons", json={"name": "券", **body}, headers=shop.admin)
    assert_error(r, 422, "invalid_input")
    async with rt.db.unit_of_work(write=False) as uow:
        stmt = select(func.count()).select_from(CouponTemplate)
        assert (await uow.session.execute(stmt)).scalar_one() == 0


async def test_bad_requests_to_consumer_routes(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    t = await template(shop)
    r = await client.get("/v1/me/coupons", params={"status": "lost"}, headers=member)
    assert_error(r, 422, "invalid_input")
    r = await client.post(f"/v1/coupons/{t['id']}/claim", json={"x": 1}, headers=member)
    assert r.status_code == 201  # the claim takes no body; a stray one is ignored
    r = await client.post("/v1/coupons/01ARZ3NDEKTSV4RRFFQ69G5FAV/claim", headers=member)
    assert_error(r, 404, "coupon_not_found")
    bad_issues: list[dict[str, Any]] = [
        {"member_ids": []},
        {"member_ids": ["x"]},
        {"member_ids": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
    ]
    for bad in bad_issues:
        r = await client.post(f"/v1/admin/coupons/{t['id']}/issue", json=bad, headers=shop.admin)
        assert_error(r, 422, "invalid_input")
    r = await client.patch(f"/v1/admin/coupons/{t['id']}", json={"active": 0}, headers=shop.admin)
    assert_error(r, 422, "invalid_input")
    async with rt.db.unit_of_work(write=False) as uow:
        assert (
            await uow.session.execute(select(func.count()).select_from(Coupon))
        ).scalar_one() == 1


async def test_another_merchants_template_is_forbidden(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    mine, theirs = await make_shop(client, rt), await make_shop(client, rt, "别家店")
    t = await template(theirs)
    member = await mine.member()
    paths = [
        ("GET", f"/v1/admin/coupons/{t['id']}", None, mine.admin),
        ("PATCH", f"/v1/admin/coupons/{t['id']}", {"active": False}, mine.admin),
        (
            "POST",
            f"/v1/admin/coupons/{t['id']}/issue",
            {"member_ids": [await member_id(client, member)]},
            mine.admin,
        ),
        ("POST", f"/v1/coupons/{t['id']}/claim", None, member),
    ]
    for method, path, body, headers in paths:
        r = await client.request(method, path, json=body, headers=headers)
        assert_error(r, 403, "forbidden")
    r = await client.get(f"/v1/admin/coupons/{t['id']}", headers=theirs.admin)
    assert (r.json()["claimed"], r.json()["active"]) == (0, True)
    assert (await client.get("/v1/admin/coupons", headers=mine.admin)).json()["items"] == []
    assert (await client.get("/v1/coupons", headers=member)).json()["items"] == []


async def test_another_members_coupon_is_not_found(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    owner, other = await shop.member(), await shop.member()
    c = await claim(shop, owner, (await template(shop))["id"])
    with pytest.raises(errors.CouponNotFound):
        await quote(rt, shop, await member_id(client, other), c["id"], [line(1000)])
    assert await my_coupons(client, other) == []
    other_shop = await make_shop(client, rt, "别家店")
    with pytest.raises(errors.CouponNotFound):  # nor under another merchant, same member id
        await quote(rt, other_shop, await member_id(client, owner), c["id"], [line(1000)])


async def test_staff_roles(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    analyst = await shop.staff("analyst")
    body = {"name": "券", "kind": "amount_off", "value": 100}
    r = await client.post("/v1/admin/coupons", json=body, headers=analyst)
    assert_error(r, 403, "forbidden")
    t = await template(shop)
    r = await client.get(f"/v1/admin/coupons/{t['id']}", headers=analyst)
    assert r.status_code == 200, r.text
    operator = await shop.staff("operator")
    r = await client.post("/v1/admin/coupons", json=body, headers=operator)
    assert r.status_code == 201, r.text


async def test_scope_names_only_the_shops_own_products_and_categories(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    other = await make_shop(client, rt, "别家店")
    mine = await shop.product(category="奶茶")
    theirs = await other.product(category="果茶")
    nothing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    cases = [
        ("product_ids", [mine["id"], theirs["id"]], "unknown_product", [theirs["id"]]),
        ("product_ids", [nothing, mine["id"]], "unknown_product", [nothing]),
        ("category_ids", [theirs["category_id"]], "unknown_category", [theirs["category_id"]]),
        # A product's id is no category's.
        ("category_ids", [mine["category_id"], mine["id"]], "unknown_category", [mine["id"]]),
    ]
    for field, ids, code, wrong in cases:
        body = {"name": "券", "kind": "amount_off", "value": 100, field: ids}
        r = await client.post("/v1/admin/coupons", json=body, headers=shop.admin)
        error = assert_error(r, 422, code)
        assert error["details"] == {"field": field, "id": wrong[0], "ids": wrong}
        assert error["message"] == f"{field}: {wrong[0]} is none of this merchant's " + (
            "products." if field == "product_ids" else "categories."
        )
    async with rt.db.unit_of_work(write=False) as uow:
        count = await uow.session.scalar(select(func.count()).select_from(CouponTemplate))
    assert count == 0
    t = await template(shop, product_ids=[mine["id"]], category_ids=[mine["category_id"]])
    assert (t["product_ids"], t["category_ids"]) == ([mine["id"]], [mine["category_id"]])


async def test_a_long_list_is_checked_in_chunks(client: httpx.AsyncClient, rt: Runtime) -> None:
    """Past the ids one query binds (`references.CHUNK`), every id is still checked."""
    shop = await make_shop(client, rt)
    t = await template(shop, total=10)
    known = await member_id(client, await shop.member())
    unknown = [new_id() for _ in range(references.CHUNK + 100)]
    body = {"member_ids": [known, *unknown[:400]]}
    r = await client.post(f"/v1/admin/coupons/{t['id']}/issue", json=body, headers=shop.admin)
    assert assert_error(r, 422, "unknown_member")["details"]["ids"] == unknown[:400]
    async with rt.db.unit_of_work(write=False) as uow:
        with pytest.raises(references.UnknownReference) as err:
            await references.check(
                uow.session, shop.merchant_id, table="members", field="ids", ids=[*unknown, known]
            )
        owned = await references.owned_ids(
            uow.session, shop.merchant_id, "members", [*unknown, known]
        )
    assert err.value.details["ids"] == unknown
    assert owned == {known}
