"""`import orders` attaches history to the members the merchant already has (API.md): a
`member_external_id` is first looked up among platform external ids (openid, unionid, the
dev code) and only then becomes a new member (platform `import`)."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import func, select

from growthloop.core.runtime import Runtime
from growthloop.identity.models import Member, PlatformAccount
from growthloop.orders.importer import import_orders_csv
from tests.helpers import make_shop
from tests.identity.support import login


def _csv(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "history.csv"
    path.write_text(
        "member_external_id,ordered_at,amount\n" + "".join(f"{r}\n" for r in rows),
        encoding="utf-8",
    )
    return path


async def _members(rt: Runtime, merchant_id: str) -> int:
    async with rt.db.unit_of_work(write=False) as uow:
        stmt = select(func.count()).select_from(Member).where(Member.merchant_id == merchant_id)
        return int((await uow.session.execute(stmt)).scalar_one())


async def _owners(client: httpx.AsyncClient, admin: dict[str, str]) -> list[str | None]:
    r = await client.get("/v1/admin/orders", params={"limit": 100}, headers=admin)
    assert r.status_code == 200, r.text
    return [o["member_id"] for o in r.json()["items"]]


async def test_a_dev_login_and_the_csv_are_one_member(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    alice = await login(client, shop.merchant_id, "alice")
    csv = _csv(tmp_path, "alice,2026-01-05T10:00:00+08:00,1500", "alice,2026-01-06,2300")

    summary = await import_orders_csv(rt, shop.merchant_id, csv)

    assert summary == {"rows": 2, "orders_created": 2, "orders_skipped": 0, "members_created": 0}
    assert await _members(rt, shop.merchant_id) == 1
    assert await _owners(client, shop.admin) == [alice["member_id"], alice["member_id"]]
    # Her own order list shows the history.
    r = await client.get("/v1/orders", headers=alice["headers"])
    assert [o["payable"] for o in r.json()["items"]] == [2300, 1500]
    # A re-run adds nothing, and still creates no member.
    again = await import_orders_csv(rt, shop.merchant_id, csv)
    assert again == {"rows": 2, "orders_created": 0, "orders_skipped": 2, "members_created": 0}


async def test_a_unionid_names_the_member_too(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    wx = await login(client, shop.merchant_id, "o-openid-1|u-union-1")
    csv = _csv(tmp_path, "u-union-1,2026-01-05,990", "o-openid-1,2026-01-06,1990")

    summary = await import_orders_csv(rt, shop.merchant_id, csv)

    assert summary["members_created"] == 0
    assert await _owners(client, shop.admin) == [wx["member_id"], wx["member_id"]]


async def test_unknown_ids_become_import_members_and_a_later_login_is_them(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    await login(client, shop.merchant_id, "alice")
    csv = _csv(tmp_path, "carol,2026-01-05,1200", "alice,2026-01-06,800")

    summary = await import_orders_csv(rt, shop.merchant_id, csv)

    assert summary["members_created"] == 1  # carol; alice already existed
    async with rt.db.unit_of_work(write=False) as uow:
        rows = await uow.session.execute(
            select(PlatformAccount.platform, PlatformAccount.openid, PlatformAccount.member_id)
            .where(PlatformAccount.merchant_id == shop.merchant_id)
            .order_by(PlatformAccount.openid)
        )
        accounts = {openid: (platform, member_id) for platform, openid, member_id in rows}
    assert {k: v[0] for k, v in accounts.items()} == {"alice": "dev", "carol": "import"}
    # Carol logs in later with the id the history was imported under: she is not new.
    carol = await login(client, shop.merchant_id, "carol")
    assert carol["is_new"] is False
    assert carol["member_id"] == accounts["carol"][1]
    r = await client.get("/v1/orders", headers=carol["headers"])
    assert [o["payable"] for o in r.json()["items"]] == [1200]
    r = await client.get("/v1/me", headers=carol["headers"])
    assert r.json()["platforms"] == ["dev", "import"]
    assert await _members(rt, shop.merchant_id) == 2


async def test_another_merchants_member_is_never_matched(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    mine, theirs = await make_shop(client, rt), await make_shop(client, rt)
    theirs_alice = await login(client, theirs.merchant_id, "alice")
    csv = _csv(tmp_path, "alice,2026-01-05,1500")

    summary = await import_orders_csv(rt, mine.merchant_id, csv)

    assert summary["members_created"] == 1
    owners = await _owners(client, mine.admin)
    assert len(owners) == 1 and owners[0] != theirs_alice["member_id"]
    assert await _owners(client, theirs.admin) == []


async def test_a_deleted_member_is_not_matched(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    alice = await login(client, shop.merchant_id, "alice")
    async with rt.db.unit_of_work() as uow:
        member = await uow.session.get(Member, alice["member_id"])
        assert member is not None
        member.status = "deleted"  # erased: its accounts are gone or no longer count
    summary = await import_orders_csv(rt, shop.merchant_id, _csv(tmp_path, "alice,2026-01-05,1"))
    assert summary["members_created"] == 1
    owners = await _owners(client, shop.admin)
    assert len(owners) == 1 and owners[0] != alice["member_id"]
