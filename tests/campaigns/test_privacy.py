"""The campaigns' parts of the data export and of account deletion: each handler exports the
member's participation, erases what is theirs alone, and leaves the other members' data and
the campaigns' books (seats, stock, prizes, commissions) exactly as they were.

The handlers run as the deletion runs them: `erase` in a unit of work with an `Erasure`.
Only the campaign handlers run here (the member row is not emptied), so the member can
still be looked at through the API afterwards, and the tests check what the campaigns
themselves show.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
from sqlalchemy import func, select

from growthloop.campaigns.bargains.models import BargainHelp, BargainInstance
from growthloop.campaigns.bargains.privacy import HANDLER as BARGAINS
from growthloop.campaigns.distribution import tasks as distribution
from growthloop.campaigns.distribution.models import Commission, PromoterAccount, Withdrawal
from growthloop.campaigns.distribution.privacy import HANDLER as DISTRIBUTION
from growthloop.campaigns.flash_sales.privacy import HANDLER as FLASH_SALES
from growthloop.campaigns.group_buys.models import Group, GroupMember
from growthloop.campaigns.group_buys.privacy import HANDLER as GROUP_BUYS
from growthloop.campaigns.invites.privacy import HANDLER as INVITES
from growthloop.campaigns.lotteries.models import LotteryDraw, LotteryPrize
from growthloop.campaigns.lotteries.privacy import HANDLER as LOTTERIES
from growthloop.campaigns.shares.models import ShareCode, ShareVisit
from growthloop.campaigns.shares.privacy import HANDLER as SHARES
from growthloop.campaigns.shares.privacy import device_ref
from growthloop.core.clock import FrozenClock
from growthloop.core.privacy import Erasure, PrivacyHandler
from growthloop.core.runtime import Runtime
from tests.campaigns.support import flash_sale, group, group_buy, join_group, open_group
from tests.helpers import Shop, assert_error, bearer, make_shop


async def _export(rt: Runtime, handler: PrivacyHandler, merchant_id: str, member_id: str) -> Any:
    async with rt.db.unit_of_work() as uow:
        return await handler.export(uow.session, merchant_id, member_id)


async def _erase(
    rt: Runtime,
    handler: PrivacyHandler,
    merchant_id: str,
    member_id: str,
    identifiers: Iterable[str] = (),
) -> dict[str, int]:
    erasure = Erasure(merchant_id, member_id, rt.clock.now(), set(identifiers))
    async with rt.db.unit_of_work() as uow:
        return await handler.erase(uow.session, erasure)


async def _rows(rt: Runtime, stmt: Any) -> list[tuple[Any, ...]]:
    async with rt.db.unit_of_work(write=False) as uow:
        return sorted((tuple(r) for r in await uow.session.execute(stmt)), key=repr)


async def _login(shop: Shop, code: str, **extra: str) -> tuple[dict[str, str], str]:
    body = {"merchant_id": shop.merchant_id, "platform": "dev", "code": code, **extra}
    r = await shop.client.post("/v1/auth/login", json=body)
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"]), str(r.json()["member_id"])


async def _referral(shop: Shop, member: dict[str, str]) -> str:
    r = await shop.client.get("/v1/me/referral", headers=member)
    return str(r.json()["referrer_code"])


# ---- distribution ----------------------------------------------------------------------


async def _stats(shop: Shop, member: dict[str, str]) -> dict[str, Any]:
    r = await shop.client.get("/v1/me/distribution", headers=member)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_distribution_cancels_what_was_not_earned_and_keeps_the_books(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    r = await client.put(
        "/v1/admin/distribution",
        json={"level1_percent": 10, "level2_percent": 5, "settle_days": 7, "min_withdrawal": 100},
        headers=shop.admin,
    )
    assert r.status_code == 200, r.text
    alice, alice_id = await _login(shop, "alice")
    bob, bob_id = await _login(shop, "bob", referrer_code=await _referral(shop, alice))
    carol, carol_id = await _login(shop, "carol", referrer_code=await _referral(shop, bob))
    product = await shop.product(price=3000, stock=10, options=[])

    # Carol's first order settles: Bob earns 300 and asks for 100 of it.
    first = await shop.paid_order(carol, product["id"])
    r = await client.post(f"/v1/admin/orders/{first['id']}/complete", headers=shop.admin)
    assert r.status_code == 200, r.text
    clock.advance(days=7, seconds=1)
    assert await distribution.settle_due_commissions(rt.db, clock) == 2
    await shop.relogin()
    bob, _ = await _login(shop, "bob")
    carol, _ = await _login(shop, "carol")
    # A first request is turned down with a note naming him; he asks again.
    r = await client.post("/v1/me/withdrawals", json={"amount": 100}, headers=bob)
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/v1/admin/withdrawals/{r.json()['id']}/reject",
        json={"note": "资料不全: 张三的银行卡号有误"},
        headers=shop.admin,
    )
    assert r.status_code == 200, r.text
    r = await client.post("/v1/me/withdrawals", json={"amount": 100}, headers=bob)
    assert r.status_code == 201, r.text
    # Her second order is paid, not settled: Bob's and Alice's commissions are frozen.
    await shop.paid_order(carol, product["id"])

    exported = await _export(rt, DISTRIBUTION, shop.merchant_id, bob_id)
    assert exported["bound_to_promoter"] is not None
    assert exported["members_bound_to_me"] == 1
    assert sorted(c["status"] for c in exported["commissions"]) == ["frozen", "settled"]
    assert exported["account"] == {"settled": 300, "withdrawn": 100}
    assert [(w["amount"], w["status"]) for w in exported["withdrawals"]] == [
        (100, "rejected"),
        (100, "requested"),
    ]
    assert "buyer_id" not in str(exported) and carol_id not in str(exported)

    c = Commission
    alices = select(c.order_id, c.level, c.amount, c.status).where(c.promoter_id == alice_id)
    alice_before = await _rows(rt, alices)
    assert sorted(x[3] for x in alice_before) == ["frozen", "settled"]

    counts = await _erase(rt, DISTRIBUTION, shop.merchant_id, bob_id)
    assert counts == {
        "promoter_bindings": 2,  # Bob to Alice, Carol to Bob
        "commissions_cancelled": 1,
        "commissions_kept": 2,
        "withdrawals_rejected": 1,
        "withdrawal_notes_cleared": 1,
    }
    bobs = await _rows(
        rt, select(c.status, c.amount, c.cancelled_at.is_not(None)).where(c.promoter_id == bob_id)
    )
    assert bobs == [("cancelled", 300, True), ("settled", 300, False)]
    # The books: the account holds what was settled, and nothing is out any more.
    account = await _rows(
        rt,
        select(PromoterAccount.settled, PromoterAccount.withdrawn).where(
            PromoterAccount.member_id == bob_id
        ),
    )
    assert account == [(300, 0)]
    w = Withdrawal
    assert await _rows(rt, select(w.status, w.amount, w.note).where(w.member_id == bob_id)) == [
        ("rejected", 100, "account_deleted"),
        ("rejected", 100, None),
    ]
    # Alice's commissions (level 2 through Bob) are hers: untouched.
    assert await _rows(rt, alices) == alice_before
    assert (await _stats(shop, carol))["bound_to_promoter"] is False
    assert (await _stats(shop, alice))["team_level1"] == 0

    # Carol's next order earns nobody anything: the chain went through Bob.
    third = await shop.paid_order(carol, product["id"])
    assert await _rows(rt, select(c.id).where(c.order_id == third["id"])) == []
    again = await _export(rt, DISTRIBUTION, shop.merchant_id, bob_id)
    assert again["bound_to_promoter"] is None and again["members_bound_to_me"] == 0


async def test_distribution_keeps_commissions_others_earned_on_the_members_orders(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    r = await client.put(
        "/v1/admin/distribution",
        json={"level1_percent": 10, "settle_days": 7, "min_withdrawal": 100},
        headers=shop.admin,
    )
    assert r.status_code == 200, r.text
    alice, alice_id = await _login(shop, "alice")
    bob, bob_id = await _login(shop, "bob", referrer_code=await _referral(shop, alice))
    product = await shop.product(price=2000, stock=10, options=[])
    await shop.paid_order(bob, product["id"])
    c = Commission
    before = await _rows(rt, select(c.promoter_id, c.buyer_id, c.amount, c.status))
    assert before == [(alice_id, bob_id, 200, "frozen")]
    counts = await _erase(rt, DISTRIBUTION, shop.merchant_id, bob_id)
    assert counts["commissions_cancelled"] == 0 and counts["commissions_kept"] == 1
    assert await _rows(rt, select(c.promoter_id, c.buyer_id, c.amount, c.status)) == before
    assert (await _stats(shop, alice))["frozen"] == 200


# ---- shares ----------------------------------------------------------------------------


async def _my_shares(shop: Shop, member: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = await shop.client.get("/v1/me/shares", headers=member)
    assert r.status_code == 200, r.text
    return {s["code"]: s for s in r.json()["items"]}


async def test_shares_delete_the_members_codes_and_strip_their_visits(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    m = shop.merchant_id
    product = await shop.product(price=1800, stock=10, options=[])
    alice, _ = await _login(shop, "alice")
    r = await client.post(
        "/v1/shares",
        json={"target_type": "product", "target_id": product["id"], "channel": "poster"},
        headers=alice,
    )
    alices = r.json()["code"]
    # Bob opens Alice's link on his phone before he has an account, signs up through it and
    # buys; he shares the product himself, and Dave opens his share.
    url = f"/v1/shares/{alices}/open"
    r = await client.post(url, json={"distinct_id": "bob-phone-1"}, params={"merchant_id": m})
    assert r.status_code == 200, r.text
    bob, bob_id = await _login(shop, "bob", share_code=alices)
    r = await client.post(url, json={"distinct_id": "bob-phone-1"}, headers=bob)
    assert r.status_code == 200, r.text
    await shop.paid_order(bob, product["id"])
    r = await client.post(
        "/v1/shares", json={"target_type": "product", "target_id": product["id"]}, headers=bob
    )
    bobs = r.json()["code"]
    dave, dave_id = await _login(shop, "dave")
    r = await client.post(f"/v1/shares/{bobs}/open", headers=dave)
    assert r.status_code == 200, r.text
    dave_code = (
        await client.post(
            "/v1/shares", json={"target_type": "product", "target_id": product["id"]}, headers=dave
        )
    ).json()["code"]

    alice_sees = await _my_shares(shop, alice)
    assert (alice_sees[alices]["opens"], alice_sees[alices]["registrations"]) == (2, 1)
    assert alice_sees[alices]["purchases"] == 1
    exported = await _export(rt, SHARES, m, bob_id)
    assert [(s["code"], s["visits"]) for s in exported["shares"]] == [(bobs, {"open": 1})]
    assert sorted(v["kind"] for v in exported["visits"]) == ["open", "purchase", "register"]
    assert dave_id not in str(exported)

    v = ShareVisit
    everything = select(v.code, v.kind, v.visitor_member_id, v.anonymous_id, v.ref)
    assert ("bob-phone-1",) in await _rows(rt, select(v.anonymous_id).where(v.code == alices))
    # The analytics handler ran before and handed over Bob's device.
    counts = await _erase(rt, SHARES, m, bob_id, identifiers={bob_id, "bob-phone-1"})
    assert counts == {
        "share_codes": 1,
        "share_visits_brought": 1,
        "share_visits_kept": 3,
        "device_ids_stripped": 2,  # his open as a member and his anonymous one
    }
    assert await _rows(rt, select(ShareCode.code).where(ShareCode.member_id == bob_id)) == []
    assert_error(await client.post(f"/v1/shares/{bobs}/open", headers=dave), 404)
    rows = await _rows(rt, everything)
    assert all(r[0] != bobs for r in rows)
    flat = str(rows)
    assert "bob-phone-1" not in flat and device_ref("bob-phone-1") not in flat
    # What Alice's share brought still counts for her.
    assert await _my_shares(shop, alice) == alice_sees
    assert (await _export(rt, SHARES, m, dave_id))["shares"][0]["code"] == dave_code
    assert (await _export(rt, SHARES, m, bob_id))["shares"] == []


# ---- lotteries -------------------------------------------------------------------------


async def test_lotteries_void_the_members_vouchers_and_keep_the_prize_books(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(name="招牌奶茶")
    body = {
        "name": "幸运大转盘",
        "prizes": [
            {
                "name": "奶茶一杯",
                "kind": "product",
                "weight": 1,
                "stock": 5,
                "product_id": product["id"],
            }
        ],
        "voucher_valid_days": 7,
        "free_draws_per_day": 3,
    }
    r = await client.post("/v1/admin/lotteries", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    lot = r.json()
    alice, alice_id = await _login(shop, "alice")
    bob, bob_id = await _login(shop, "bob")
    draws = {}
    for who, headers in (("alice", alice), ("bob", bob), ("bob2", bob)):
        r = await client.post(f"/v1/lotteries/{lot['id']}/draw", headers=headers)
        assert r.status_code == 201, r.text
        draws[who] = r.json()
    r = await client.get(f"/v1/admin/lotteries/{lot['id']}", headers=shop.admin)
    admin_before = r.json()

    exported = await _export(rt, LOTTERIES, shop.merchant_id, bob_id)
    codes = sorted(d["voucher_code"] for d in exported["draws"])
    assert codes == sorted([draws["bob"]["voucher"]["code"], draws["bob2"]["voucher"]["code"]])
    assert exported["lotteries"] == [{"lottery_id": lot["id"], "draws": 2, "wins": 2}]

    prizes = select(LotteryPrize.id, LotteryPrize.given)
    given_before = await _rows(rt, prizes)
    counts = await _erase(rt, LOTTERIES, shop.merchant_id, bob_id)
    assert counts == {"vouchers_voided": 2, "lottery_draws_kept": 2}
    staff = await shop.staff("support")
    path = "/v1/admin/lottery-vouchers/verify"
    r = await client.post(path, json={"code": draws["bob"]["voucher"]["code"]}, headers=staff)
    assert_error(r, 409, "voucher_expired")
    r = await client.post(path, json={"code": draws["alice"]["voucher"]["code"]}, headers=staff)
    assert r.status_code == 200, r.text
    # The prize's stock, the lottery's totals and participants are as they were.
    assert await _rows(rt, prizes) == given_before
    r = await client.get(f"/v1/admin/lotteries/{lot['id']}", headers=shop.admin)
    assert {k: v for k, v in r.json().items() if k != "prizes"} == {
        k: v for k, v in admin_before.items() if k != "prizes"
    }
    d = LotteryDraw
    assert await _rows(rt, select(func.count()).where(d.member_id == alice_id)) == [(1,)]


# ---- group buys ------------------------------------------------------------------------


async def test_group_buys_keep_the_group_whole_for_the_others(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1500, stock=10)
    gb = await group_buy(shop, product["id"], group_size=3)
    bob, bob_id = await _login(shop, "bob")
    alice, _ = await _login(shop, "alice")
    carol, _ = await _login(shop, "carol")
    opened = await open_group(shop, gb["id"], bob)
    gid = opened["group_id"]
    await shop.pay(bob, opened["order"]["id"])
    joined = await join_group(shop, gid, alice)
    await shop.pay(alice, joined["order"]["id"])
    before = await group(shop, gid)
    assert (before["status"], before["members"]) == ("forming", 2)

    exported = await _export(rt, GROUP_BUYS, shop.merchant_id, bob_id)
    [place] = exported
    assert (place["group_id"], place["role"], place["status"]) == (gid, "leader", "paid")
    assert place["group"]["led_by_me"] is True and place["order_id"] == opened["order"]["id"]

    members = select(GroupMember.member_id, GroupMember.status, GroupMember.role)
    rows_before = await _rows(rt, members)
    counts = await _erase(rt, GROUP_BUYS, shop.merchant_id, bob_id)
    assert counts == {"group_members_kept": 1, "groups_led_kept": 1}
    assert await _rows(rt, members) == rows_before
    assert await group(shop, gid) == before
    # The group fills and succeeds for the others as it would have.
    joined = await join_group(shop, gid, carol)
    await shop.pay(carol, joined["order"]["id"])
    after = await group(shop, gid)
    assert (after["status"], after["members"]) == ("succeeded", 3)
    paid = await _rows(
        rt, select(func.count()).where(GroupMember.group_id == gid, GroupMember.status == "paid")
    )
    assert await _rows(rt, select(Group.paid_count).where(Group.id == gid)) == paid == [(3,)]


# ---- bargains, flash sales, invites -------------------------------------------------------


async def test_bargains_expire_the_members_open_bargain_and_keep_their_helps(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=5000, stock=5, options=[])
    body = {
        "product_id": product["id"],
        "original_price": 5000,
        "floor_price": 100,
        "helpers_needed": 3,
        "duration_minutes": 60 * 24,
    }
    bargain = (await client.post("/v1/admin/bargains", json=body, headers=shop.admin)).json()
    bob, bob_id = await _login(shop, "bob")
    alice, _ = await _login(shop, "alice")
    carol, _ = await _login(shop, "carol")
    mine = (await client.post(f"/v1/bargains/{bargain['id']}/start", headers=bob)).json()
    hers = (await client.post(f"/v1/bargains/{bargain['id']}/start", headers=alice)).json()
    r = await client.post(f"/v1/bargain-instances/{mine['id']}/help", headers=alice)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/bargain-instances/{hers['id']}/help", headers=bob)
    assert r.status_code == 200, r.text

    exported = await _export(rt, BARGAINS, shop.merchant_id, bob_id)
    assert [b["instance_id"] for b in exported["bargains"]] == [mine["id"]]
    assert [h["instance_id"] for h in exported["helps_given"]] == [hers["id"]]

    i = BargainInstance
    hers_row = select(i.current_price, i.helps, i.status, i.expires_at).where(i.id == hers["id"])
    hers_before = await _rows(rt, hers_row)
    helps_before = await _rows(rt, select(BargainHelp.instance_id, BargainHelp.cut))
    counts = await _erase(rt, BARGAINS, shop.merchant_id, bob_id)
    assert counts["bargain_instances_expired"] == 1 and counts["bargain_helps_kept"] == 1
    assert_error(
        await client.post(f"/v1/bargain-instances/{mine['id']}/help", headers=carol),
        409,
        "bargain_expired",
    )
    assert await _rows(rt, hers_row) == hers_before
    assert await _rows(rt, select(BargainHelp.instance_id, BargainHelp.cut)) == helps_before
    r = await client.post(f"/v1/bargain-instances/{hers['id']}/help", headers=carol)
    assert r.status_code == 200, r.text  # Alice's bargain goes on


async def test_flash_sales_and_invites_export_participation_and_keep_the_counts(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1800, stock=30)
    sale = await flash_sale(shop, product["id"], price=990, stock=5, per_member_limit=2)
    bob, bob_id = await _login(shop, "bob")
    r = await client.post(f"/v1/flash-sales/{sale['id']}/purchase", json={}, headers=bob)
    assert r.status_code == 201, r.text
    exported = await _export(rt, FLASH_SALES, shop.merchant_id, bob_id)
    assert [(p["flash_sale_id"], p["quantity"], p["status"]) for p in exported] == [
        (sale["id"], 1, "held")
    ]
    counts = await _erase(rt, FLASH_SALES, shop.merchant_id, bob_id)
    assert counts == {"flash_sale_purchases_kept": 1}
    r = await client.get(f"/v1/flash-sales/{sale['id']}", params={"merchant_id": shop.merchant_id})
    assert r.json()["stock_left"] == 4
    assert await _export(rt, FLASH_SALES, shop.merchant_id, bob_id) == exported

    invites = await _export(rt, INVITES, shop.merchant_id, bob_id)
    assert invites == {"invited": [], "qualified_as_invitee": [], "rewards": []}
    assert await _erase(rt, INVITES, shop.merchant_id, bob_id) == {
        "invite_qualifications_kept": 0,
        "invite_rewards_kept": 0,
    }


MEMBER_COLUMNS = {
    "member_id",
    "promoter_id",
    "buyer_id",
    "invitee_id",
    "inviter_id",
    "sharer_id",
    "visitor_member_id",
    "owner_member_id",
    "leader_member_id",
    "helper_member_id",
}


def test_every_campaign_table_naming_a_member_is_claimed_by_its_package() -> None:
    from growthloop.campaigns.bargains import models as bargains
    from growthloop.campaigns.distribution import models as dist
    from growthloop.campaigns.flash_sales import models as flash
    from growthloop.campaigns.group_buys import models as groups
    from growthloop.campaigns.invites import models as invites
    from growthloop.campaigns.lotteries import models as lotteries
    from growthloop.campaigns.shares import models as shares

    packages = [
        (bargains, BARGAINS),
        (dist, DISTRIBUTION),
        (flash, FLASH_SALES),
        (groups, GROUP_BUYS),
        (invites, INVITES),
        (lotteries, LOTTERIES),
        (shares, SHARES),
    ]
    for module, handler in packages:
        tables = {
            value.__table__.name
            for value in vars(module).values()
            if getattr(value, "__module__", None) == module.__name__
            and hasattr(value, "__table__")
            and MEMBER_COLUMNS & {c.name for c in value.__table__.columns}
        }
        assert set(handler.tables) == tables, module.__name__
        assert handler.keeps
    assert len({h.section for _, h in packages}) == len(packages)
