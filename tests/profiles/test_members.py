"""`GET /v1/admin/members`: the operator's members list (API.md Profiles). Search by name
(nicknames are sealed at rest, so the search opens them in a bounded scan), by the whole
phone number (its keyed hash) and by external id; filter by tier and platform; page; export
as CSV (audited, owner and operator only); one member's detail."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from growthloop.core import audit
from growthloop.core.runtime import Runtime
from growthloop.identity import service as identity
from growthloop.identity.models import Member
from growthloop.orders.importer import import_orders_csv
from tests.helpers import Shop, assert_error, bearer, make_shop

PROGRAM = {
    "points_per_yuan": 1,
    "tiers": [{"name": "普通会员"}, {"name": "白银会员", "min_spend": 2000}],
}


async def _ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


async def _members(shop: Shop, headers: dict[str, str] | None = None, **params: Any) -> Any:
    r = await shop.client.get("/v1/admin/members", params=params, headers=headers or shop.admin)
    return await _ok(r)


def _names(page: dict[str, Any]) -> list[str | None]:
    return [m["nickname"] for m in page["items"]]


async def _me(shop: Shop, member: dict[str, str]) -> str:
    return str((await _ok(await shop.client.get("/v1/me", headers=member)))["id"])


async def _profile(shop: Shop, member: dict[str, str], nickname: str) -> None:
    r = await shop.client.patch("/v1/me/profile", json={"nickname": nickname}, headers=member)
    assert r.status_code == 200, r.text


async def _shop_with_members(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> tuple[Shop, dict[str, str]]:
    """alice (dev, 张小花, phone, 2 completed orders: 白银会员), bob (dev with a unionid,
    Bob Lee, one paid order), carol (imported history only); newest first: carol, bob,
    alice."""
    shop = await make_shop(client, rt)
    r = await client.put("/v1/admin/loyalty/program", json=PROGRAM, headers=shop.admin)
    assert r.status_code == 200, r.text
    product = await shop.product(price=1500, stock=100)
    alice = await shop.member("alice")
    await _profile(shop, alice, "张小花")
    r = await client.post("/v1/me/phone", json={"code": "13800138000"}, headers=alice)
    assert r.status_code == 200, r.text
    for _ in range(2):
        order = await shop.paid_order(alice, product["id"])
        r = await client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
        assert r.status_code == 200, r.text
    bob = await shop.member("bob|union-b")
    await _profile(shop, bob, "Bob Lee")
    await shop.paid_order(bob, product["id"])
    csv_file = tmp_path / "history.csv"
    csv_file.write_text("member_external_id,ordered_at,amount\ncarol,2026-01-05,1200\n")
    await import_orders_csv(rt, shop.merchant_id, csv_file)
    ids = {"alice": await _me(shop, alice), "bob": await _me(shop, bob)}
    page = await _members(shop, external_id="carol")
    ids["carol"] = page["items"][0]["id"]
    return shop, ids


async def test_the_list_shows_each_member_newest_first(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop, ids = await _shop_with_members(client, rt, tmp_path)
    page = await _members(shop)
    assert page["next_cursor"] is None
    by_id = {m["id"]: m for m in page["items"]}
    assert [m["id"] for m in page["items"]] == [ids["carol"], ids["bob"], ids["alice"]]
    alice = by_id[ids["alice"]]
    assert {k: v for k, v in alice.items() if k not in ("created_at", "last_login_at")} == {
        "id": ids["alice"],
        "nickname": "张小花",
        "phone": "138****8000",
        "tier": "白银会员",
        "points": 30,
        "orders": 2,
        "spend": 3000,
        "platforms": ["dev"],
        "signup_platform": "dev",
    }
    assert alice["created_at"] == "2026-03-02T02:00:00Z"
    assert alice["last_login_at"] == "2026-03-02T02:00:00Z"
    bob = by_id[ids["bob"]]
    assert (bob["nickname"], bob["phone"], bob["tier"], bob["points"]) == (
        "Bob Lee",
        None,
        "普通会员",
        0,
    )
    assert (bob["orders"], bob["spend"]) == (1, 1500)
    carol = by_id[ids["carol"]]
    assert (carol["nickname"], carol["tier"], carol["orders"], carol["spend"]) == (
        None,
        "普通会员",
        1,
        1200,
    )
    assert (carol["platforms"], carol["signup_platform"], carol["last_login_at"]) == (
        ["import"],
        "import",
        None,
    )


async def test_search_by_name_phone_and_external_id(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop, ids = await _shop_with_members(client, rt, tmp_path)

    async def found(**params: Any) -> list[str]:
        return [m["id"] for m in (await _members(shop, **params))["items"]]

    # Names: part of the nickname, any case, full-width letters too.
    assert await found(q="小花") == [ids["alice"]]
    assert await found(q="bob") == [ids["bob"]]
    assert await found(q="ＬＥＥ") == [ids["bob"]]
    assert await found(q="王") == []
    # A phone number, however it is written: its keyed hash finds the member.
    assert await found(q="13800138000") == [ids["alice"]]
    assert await found(q="+86 138-0013-8000") == [ids["alice"]]
    assert await found(q="13900139000") == []
    # A member id or an external id typed into the search box.
    assert await found(q=ids["bob"]) == [ids["bob"]]
    assert await found(q="carol") == [ids["carol"]]
    # external_id= matches platform accounts exactly: openid (the dev code), unionid, import.
    assert await found(external_id="alice") == [ids["alice"]]
    assert await found(external_id="union-b") == [ids["bob"]]
    assert await found(external_id="bob") == [ids["bob"]]
    assert await found(external_id="carol") == [ids["carol"]]
    assert await found(external_id="ali") == []


async def test_filter_by_tier_and_platform(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop, ids = await _shop_with_members(client, rt, tmp_path)

    async def found(**params: Any) -> list[str]:
        return [m["id"] for m in (await _members(shop, **params))["items"]]

    assert await found(tier="白银会员") == [ids["alice"]]
    # The base tier: members holding it and members who hold no tier at all.
    assert await found(tier="普通会员") == [ids["carol"], ids["bob"]]
    assert await found(platform="import") == [ids["carol"]]
    assert await found(platform="dev") == [ids["bob"], ids["alice"]]
    assert await found(platform="wechat") == []
    assert await found(platform="dev", tier="普通会员") == [ids["bob"]]
    assert await found(platform="dev", q="小花", tier="白银会员") == [ids["alice"]]
    assert await found(q="小花", tier="普通会员") == []

    error = assert_error(
        await client.get("/v1/admin/members", params={"tier": "钻石会员"}, headers=shop.admin),
        422,
        "unknown_tier",
    )
    assert error["details"] == {"tier": "钻石会员", "tiers": ["普通会员", "白银会员"]}
    r = await client.get("/v1/admin/members", params={"platform": "fax"}, headers=shop.admin)
    assert_error(r, 422, "invalid_input")
    r = await client.get("/v1/admin/members", params={"cursor": "zzz"}, headers=shop.admin)
    assert_error(r, 422, "invalid_cursor")
    r = await client.get("/v1/admin/members", params={"q": ""}, headers=shop.admin)
    assert_error(r, 422, "invalid_input")


async def test_pages_and_a_bounded_name_search(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop, ids = await _shop_with_members(client, rt, tmp_path)
    seen, cursor = [], None
    while True:
        page = await _members(shop, limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids["carol"], ids["bob"], ids["alice"]]

    # A name search reads at most SCAN_LIMIT members per request: alice, the oldest, is
    # found by following the cursor.
    monkeypatch.setattr(identity, "SCAN_LIMIT", 2)
    monkeypatch.setattr(identity, "SCAN_CHUNK", 1)
    first = await _members(shop, q="小花")
    assert first["items"] == [] and first["next_cursor"] is not None
    second = await _members(shop, q="小花", cursor=first["next_cursor"])
    assert _names(second) == ["张小花"] and second["next_cursor"] is None
    # A search that fills its page stops there.
    both = await _members(shop, q="b", limit=1)  # Bob Lee; carol's id has no "b"
    assert _names(both) == ["Bob Lee"]


async def test_deleted_and_other_merchants_members_are_not_listed(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop, ids = await _shop_with_members(client, rt, tmp_path)
    other = await make_shop(client, rt)
    stranger = await other.member("alice")
    await _profile(other, stranger, "张小花")
    async with rt.db.unit_of_work() as uow:
        member = await uow.session.get(Member, ids["bob"])
        assert member is not None
        member.status = "deleted"
    page = await _members(shop)
    assert [m["id"] for m in page["items"]] == [ids["carol"], ids["alice"]]
    assert [m["id"] for m in (await _members(other, q="小花"))["items"]] == [
        await _me(other, stranger)
    ]
    assert (await _members(other, external_id="carol"))["items"] == []
    # The detail of another merchant's member is 403, of an unknown id 404.
    r = await client.get(f"/v1/admin/members/{ids['alice']}", headers=other.admin)
    assert_error(r, 403, "forbidden")
    r = await client.get("/v1/admin/members/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=shop.admin)
    assert_error(r, 404, "member_not_found")
    # A deleted member's detail says so (orders still name them).
    r = await client.get(f"/v1/admin/members/{ids['bob']}", headers=shop.admin)
    assert r.json()["status"] == "deleted"


async def test_one_members_detail(client: httpx.AsyncClient, rt: Runtime, tmp_path: Path) -> None:
    shop, ids = await _shop_with_members(client, rt, tmp_path)
    await shop.member("carol")  # carol logs in: her history becomes hers
    r = await client.get(f"/v1/admin/members/{ids['carol']}", headers=shop.admin)
    detail = await _ok(r)
    assert detail["id"] == ids["carol"]
    assert detail["status"] == "active"
    assert [a["platform"] for a in detail["accounts"]] == ["import", "dev"]
    assert detail["platforms"] == ["dev", "import"]
    assert detail["active_days"] == 1
    assert (detail["orders"], detail["spend"], detail["tier"]) == (1, 1200, "普通会员")
    assert detail["referral_code"] and detail["referred_by"] is None


async def test_every_staff_role_lists_members(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop, ids = await _shop_with_members(client, rt, tmp_path)
    for role in ("operator", "analyst", "support"):
        staff = await shop.staff(role)
        page = await _members(shop, staff)
        assert len(page["items"]) == 3
        r = await client.get(f"/v1/admin/members/{ids['alice']}", headers=staff)
        assert r.status_code == 200, r.text


async def test_export_csv_is_masked_filtered_and_audited(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop, ids = await _shop_with_members(client, rt, tmp_path)
    mallory = await shop.member("mallory")
    await _profile(shop, mallory, '=HYPERLINK("http://x")')
    r = await client.get("/v1/admin/members/export.csv", headers=shop.admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="members.csv"'
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "id",
        "nickname",
        "phone",
        "tier",
        "points",
        "orders",
        "spend_fen",
        "spend_yuan",
        "platforms",
        "signup_platform",
        "created_at",
        "last_login_at",
    ]
    assert [row[0] for row in rows[1:]] == [
        await _me(shop, mallory),
        ids["carol"],
        ids["bob"],
        ids["alice"],
    ]
    assert rows[1][1] == '\'=HYPERLINK("http://x")'  # a formula stays text
    assert rows[4][1:] == [
        "张小花",
        "138****8000",
        "白银会员",
        "30",
        "2",
        "3000",
        "30.00",
        "dev",
        "dev",
        "2026-03-02T10:00:00+08:00",
        "2026-03-02T10:00:00+08:00",
    ]
    assert "13800138000" not in r.text
    # The same filters as the list.
    r = await client.get(
        "/v1/admin/members/export.csv",
        params={"tier": "白银会员", "q": "小花"},
        headers=shop.admin,
    )
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [ids["alice"]]
    r = await client.get(
        "/v1/admin/members/export.csv", params={"tier": "钻石会员"}, headers=shop.admin
    )
    assert_error(r, 422, "unknown_tier")

    async with rt.db.unit_of_work(write=False) as uow:
        entries = await audit.entries(uow.session, shop.merchant_id, action="members.export")
    assert [e.details for e in entries] == [
        {"format": "csv", "filters": ["q", "tier"], "tier": "白银会员", "platform": None},
        {"format": "csv", "filters": [], "tier": None, "platform": None},
    ]
    assert all(e.actor_type == "admin" and e.subject_id == shop.merchant_id for e in entries)


async def test_only_owner_and_operator_export(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop, _ = await _shop_with_members(client, rt, tmp_path)
    operator = await shop.staff("operator")
    r = await client.get("/v1/admin/members/export.csv", headers=operator)
    assert r.status_code == 200, r.text
    for role in ("analyst", "support"):
        staff = await shop.staff(role)
        r = await client.get("/v1/admin/members/export.csv", headers=staff)
        error = assert_error(r, 403, "forbidden")
        assert error["details"]["required_permission"] == "members.export"
    async with rt.db.unit_of_work(write=False) as uow:
        entries = await audit.entries(uow.session, shop.merchant_id, action="members.export")
    assert len(entries) == 1  # the refused ones left nothing
    r = await client.get("/v1/admin/members", headers=bearer("not-a-token"))
    assert_error(r, 401, "unauthenticated")


async def test_a_phone_search_finds_history_imported_by_phone_number(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    csv_file = tmp_path / "by-phone.csv"
    csv_file.write_text("member_external_id,ordered_at,amount\n13912345678,2026-01-05,800\n")
    await import_orders_csv(rt, shop.merchant_id, csv_file)
    page = await _members(shop, q="139 1234 5678")
    assert [(m["platforms"], m["orders"], m["spend"]) for m in page["items"]] == [
        (["import"], 1, 800)
    ]
    assert (await _members(shop, q="13912345670"))["items"] == []
