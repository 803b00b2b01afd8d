"""Each domain's privacy handler: what the export holds, and what the erasure removes and keeps.

The wiring does not register the handlers yet, so these tests build the registry
themselves and call every handler inside one unit of work, the way `deletion.carry_out`
does. Data is made through the API; the other member's rows must come out untouched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop import all_models
from growthloop.alliance import privacy as alliance_privacy
from growthloop.alliance.models import Exchange, MemberDailyUsage
from growthloop.compliance import privacy as compliance_privacy
from growthloop.compliance.models import ConsentRecord, ConsentState
from growthloop.compliance.registry import PrivacyRegistry
from growthloop.core.audit import AuditEntry
from growthloop.core.idempotency import IdempotencyRecord
from growthloop.core.models import Base
from growthloop.core.privacy import Erasure, PrivacyHandler
from growthloop.core.runtime import Runtime
from growthloop.core.stock.sql import StockPoolHolder
from growthloop.identity import privacy as identity_privacy
from growthloop.identity.models import Member, MemberActivityDay, PlatformAccount
from growthloop.loyalty import privacy as loyalty_privacy
from growthloop.loyalty.models import LedgerEntry, MemberLoyalty
from growthloop.mall import privacy as mall_privacy
from growthloop.mall.models import MemberRedemptionCount, Redemption
from growthloop.orders import privacy as orders_privacy
from growthloop.orders.importer import import_orders_csv
from growthloop.orders.models import Order, OrderItem
from growthloop.payments import privacy as payments_privacy
from growthloop.payments.models import Payment, Refund
from growthloop.promotions import privacy as promotions_privacy
from growthloop.promotions.models import Coupon
from tests.alliance.support import alliance, by_unionid, exchange, give_points, points
from tests.helpers import Shop, bearer, make_shop
from tests.mall.support import SHIPPING, earn, program, redeem, reward
from tests.promotions.support import claim, template

HANDLERS: list[PrivacyHandler] = [
    identity_privacy.HANDLER,
    orders_privacy.HANDLER,
    payments_privacy.HANDLER,
    loyalty_privacy.HANDLER,
    promotions_privacy.HANDLER,
    mall_privacy.HANDLER,
    alliance_privacy.HANDLER,
    *compliance_privacy.HANDLERS,
]
DOMAIN_MODELS = [
    all_models.identity_models,
    all_models.orders_models,
    all_models.payments_models,
    all_models.loyalty_models,
    all_models.promotions_models,
    all_models.mall_models,
    all_models.alliance_models,
    all_models.compliance_models,
    all_models.audit,
    all_models.events,
    all_models.idempotency,
    all_models.stock_models,
]


def registry() -> PrivacyRegistry:
    r = PrivacyRegistry()
    for handler in HANDLERS:
        r.register(handler)
    return r


async def export_all(rt: Runtime, merchant_id: str, member_id: str) -> dict[str, Any]:
    async with rt.db.unit_of_work() as uow:
        return {
            h.section: await h.export(uow.session, merchant_id, member_id)
            for h in registry().handlers
        }


async def erase_all(
    rt: Runtime, merchant_id: str, member_id: str
) -> tuple[Erasure, dict[str, Any]]:
    erasure = Erasure(merchant_id, member_id, rt.clock.now())
    async with rt.db.unit_of_work() as uow:
        receipt = {h.section: await h.erase(uow.session, erasure) for h in registry().handlers}
    return erasure, receipt


async def member_id(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    r = await client.get("/v1/me", headers=headers)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def _scalar(rt: Runtime, stmt: Any) -> Any:
    async with rt.db.unit_of_work(write=False) as uow:
        return (await uow.session.execute(stmt)).scalar_one()


async def _rows(s: AsyncSession, stmt: Any) -> list[tuple[Any, ...]]:
    return sorted((tuple(row) for row in await s.execute(stmt)), key=repr)


async def rows_of(rt: Runtime, who: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that names the member (their member row included)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with rt.db.unit_of_work(write=False) as uow:
        for table in all_models.metadata.sorted_tables:
            for name in ("member_id", "target_member_id", "holder"):
                if name in table.c:
                    rows = await _rows(uow.session, table.select().where(table.c[name] == who))
                    out[f"{table.name}.{name}"] = rows
        out["members"] = await _rows(uow.session, Member.__table__.select().where(Member.id == who))
    return out


async def money(rt: Runtime, merchant_id: str) -> dict[str, int]:
    """What accounting sums for the merchant: must not move when a member is erased."""
    sums = {
        "orders": select(func.count(), func.sum(Order.payable)).where(
            Order.merchant_id == merchant_id
        ),
        "order_items": select(func.count(), func.sum(OrderItem.line_total)).where(
            OrderItem.merchant_id == merchant_id
        ),
        "payments": select(func.count(), func.sum(Payment.amount)).where(
            Payment.merchant_id == merchant_id
        ),
        "refunds": select(func.count(), func.sum(Refund.amount)).where(
            Refund.merchant_id == merchant_id
        ),
    }
    out: dict[str, int] = {}
    async with rt.db.unit_of_work(write=False) as uow:
        for name, stmt in sums.items():
            count, total = (await uow.session.execute(stmt)).one()
            out[f"{name}.count"], out[f"{name}.sum"] = int(count), int(total or 0)
    return out


async def assert_ledgers_balanced(rt: Runtime, merchant_id: str) -> int:
    """Every remaining member's balance equals the sum of their ledger; the members checked."""
    async with rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        sums = dict(
            await _rows(
                s,
                select(LedgerEntry.member_id, func.sum(LedgerEntry.delta))
                .where(LedgerEntry.merchant_id == merchant_id)
                .group_by(LedgerEntry.member_id),
            )
        )
        balances = dict(
            await _rows(
                s,
                select(MemberLoyalty.member_id, MemberLoyalty.points).where(
                    MemberLoyalty.merchant_id == merchant_id
                ),
            )
        )
    assert {k: v for k, v in balances.items() if v or k in sums} == sums
    return len(sums)


async def _count(rt: Runtime, model: Any, *where: Any) -> int:
    return int(await _scalar(rt, select(func.count()).select_from(model).where(*where)))


async def _customer(shop: Shop, code: str, nickname: str, phone: str) -> dict[str, str]:
    headers = await shop.member(code)
    body = {"nickname": nickname, "birthday": "1990-05-17"}
    r = await shop.client.patch("/v1/me/profile", json=body, headers=headers)
    assert r.status_code == 200, r.text
    r = await shop.client.post("/v1/me/phone", json={"code": phone}, headers=headers)
    assert r.status_code == 200, r.text
    r = await shop.client.put("/v1/me/consents", json={"marketing": True}, headers=headers)
    assert r.status_code == 200, r.text
    return headers


async def test_every_member_table_of_these_domains_is_claimed() -> None:
    claimed = registry().tables()
    holding = {
        model.__tablename__
        for module in DOMAIN_MODELS
        for model in vars(module).values()
        if isinstance(model, type)
        and issubclass(model, Base)
        and model.__module__ == module.__name__
        and {"member_id", "target_member_id", "holder"} & set(model.__table__.c.keys())
    }
    assert holding - claimed == set()
    assert {"order_items", "refunds", "payment_notifications"} <= claimed


async def test_export_then_erase_one_member_of_every_domain(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await program(shop, welcome_points=50)
    alice = await _customer(shop, "alice-code|alice-union", "爱丽丝", "13800138000")
    bob = await _customer(shop, "bob-code", "鲍勃", "13900139000")
    alice_id, bob_id = await member_id(client, alice), await member_id(client, bob)

    # Orders, payments and points: a completed order each, and one of Alice's refunded.
    kept_order = await earn(shop, alice, 500)
    refunded = await earn(shop, alice, 40)
    r = await client.post(f"/v1/admin/orders/{refunded['id']}/refund", headers=shop.admin)
    assert r.status_code == 200, r.text
    await earn(shop, bob, 300)
    # Coupons (Alice's claim carries an Idempotency-Key: its response is stored).
    coupon = await template(shop, per_member_limit=2)
    r = await client.post(
        f"/v1/coupons/{coupon['id']}/claim", headers={**alice, "Idempotency-Key": "claim-1"}
    )
    assert r.status_code == 201, r.text
    await claim(shop, bob, coupon["id"])
    # The points mall: a gift shipped to an address, and a voucher for the counter.
    gift = await reward(shop, points_cost=100)
    r = await redeem(shop, alice, gift["id"], shipping=SHIPPING)
    assert r.status_code == 201, r.text
    voucher = await reward(
        shop, kind="product", product_id=kept_order["items"][0]["product_id"], points_cost=50
    )
    r = await redeem(shop, alice, voucher["id"])
    assert r.status_code == 201, r.text
    assert (await redeem(shop, bob, gift["id"], shipping=SHIPPING)).status_code == 201
    # A flash-sale holding each, and an audit entry each with a personal detail in it.
    async with rt.db.unit_of_work() as uow:
        for who in (alice_id, bob_id):
            uow.session.add(StockPoolHolder(pool="flash:test", holder=who, units=1))
            uow.session.add(
                AuditEntry(
                    merchant_id=shop.merchant_id,
                    actor_type="admin",
                    actor_id=None,
                    action="member.note",
                    subject_type="member",
                    subject_id=who,
                    member_id=who,
                    details={"note": "called 13800138000"},
                    created_at=rt.clock.now(),
                )
            )

    bob_before = await rows_of(rt, bob_id)
    money_before = await money(rt, shop.merchant_id)
    consents_before = await _count(rt, ConsentRecord, ConsentRecord.member_id == alice_id)
    scope = compliance_privacy.member_scope(alice_id)
    assert await _count(rt, IdempotencyRecord, IdempotencyRecord.scope == scope) == 1

    # ---- the export: each section holds the member's data, and only theirs -------------
    exported = await export_all(rt, shop.merchant_id, alice_id)
    json.dumps(exported)  # JSON-able as it is
    profile = exported["identity"]["profile"]
    assert (profile["nickname"], profile["birthday"]) == ("爱丽丝", "1990-05-17")
    assert profile["phone_verified"] is True and "phone_hash" not in profile
    assert [(a["openid"], a["unionid"]) for a in exported["identity"]["platform_accounts"]] == [
        ("alice-code", "alice-union")
    ]
    assert exported["identity"]["activity_days"] == ["2026-03-02"]
    orders = exported["orders"]
    assert {o["id"] for o in orders} == {kept_order["id"], refunded["id"]}
    assert all(o["items"] and isinstance(o["payable"], int) for o in orders)
    assert sorted(p["amount"] for p in exported["payments"]["payments"]) == [4000, 50000]
    assert [r["amount"] for r in exported["payments"]["refunds"]] == [4000]
    loyalty = exported["loyalty"]
    assert loyalty["membership"]["points"] == 50 + 500 - 100 - 50
    assert sum(e["delta"] for e in loyalty["ledger"]) == loyalty["membership"]["points"]
    assert loyalty["batches"] and loyalty["login_days"] == ["2026-03-02"]
    assert [c["template_id"] for c in exported["coupons"]] == [coupon["id"]]
    mall = {m["kind"]: m for m in exported["mall"]}
    assert mall["physical"]["shipping"] == SHIPPING and mall["product"]["code"]
    consents = {c["purpose"]: c["granted"] for c in exported["privacy"]["consents"]}
    assert consents["marketing"] is True and consents["membership"] is True
    assert len(exported["privacy"]["consent_history"]) == consents_before
    audit = exported["records"]["audit_log"]
    assert {"consent.grant", "member.phone_verified", "order.refund", "member.note"} <= {
        e["action"] for e in audit
    }
    assert exported["records"]["stock_holdings"] == [{"pool": "flash:test", "units": 1}]
    assert bob_id not in json.dumps(exported)

    # ---- the erasure ------------------------------------------------------------------
    erasure, receipt = await erase_all(rt, shop.merchant_id, alice_id)
    assert erasure.identifiers == {"alice-code", "alice-union"}
    json.dumps(receipt)
    assert receipt["identity"]["platform_accounts"] == 1
    assert receipt["loyalty"]["points_voided"] == 400
    assert receipt["coupons"]["coupons"] == 1
    assert receipt["records"]["audit_details_blanked"] == 1

    # Identity: the row stays, without the person; accounts and activity are gone.
    async with rt.db.unit_of_work(write=False) as uow:
        member = await uow.session.get(Member, alice_id)
        assert member is not None and member.status == "deleted"
        assert (member.nickname, member.birthday, member.birthday_month_day) == (None,) * 3
        assert (member.phone_hash, member.referral_code, member.referred_by) == (None,) * 3
        assert (member.signup_referrer_code, member.signup_share_code) == (None, None)
    assert await _count(rt, PlatformAccount, PlatformAccount.member_id == alice_id) == 0
    assert await _count(rt, MemberActivityDay, MemberActivityDay.member_id == alice_id) == 0
    # Orders and payments: kept, the same amounts, still on the anonymous member id.
    assert await money(rt, shop.merchant_id) == money_before
    assert await _count(rt, Order, Order.member_id == alice_id) == 2
    # Loyalty and coupons: gone; every remaining ledger still balances.
    for model in (MemberLoyalty, LedgerEntry, Coupon, MemberRedemptionCount, ConsentState):
        assert await _count(rt, model, model.member_id == alice_id) == 0, model
    assert await assert_ledgers_balanced(rt, shop.merchant_id) == 1
    # The mall: redemptions kept without shipping details, tracking number or code.
    async with rt.db.unit_of_work(write=False) as uow:
        kept = list(
            await uow.session.scalars(select(Redemption).where(Redemption.member_id == alice_id))
        )
    assert len(kept) == 2
    assert all(
        (r.ship_name, r.ship_phone, r.ship_address, r.tracking_no, r.code) == (None,) * 5
        for r in kept
    )
    # Consents: the ledger stays as it was; audit entries stay, personal details gone.
    assert await _count(rt, ConsentRecord, ConsentRecord.member_id == alice_id) == consents_before
    async with rt.db.unit_of_work(write=False) as uow:
        entries = list(
            await uow.session.scalars(select(AuditEntry).where(AuditEntry.member_id == alice_id))
        )
    assert {e.action for e in entries} >= {"consent.grant", "order.refund", "member.note"}
    assert all(compliance_privacy.non_personal(e.details) for e in entries)
    (note,) = [e for e in entries if e.action == "member.note"]
    assert note.details == {}
    (refund,) = [e for e in entries if e.action == "order.refund"]
    assert refund.details["amount"] == 4000  # non-personal details stay
    # The kernel: stored responses and flash-sale holdings of the member gone.
    assert await _count(rt, IdempotencyRecord, IdempotencyRecord.scope == scope) == 0
    assert await _count(rt, StockPoolHolder, StockPoolHolder.holder == alice_id) == 0

    # Bob is untouched, row for row.
    assert await rows_of(rt, bob_id) == bob_before

    # The export now holds nothing personal of Alice.
    after = await export_all(rt, shop.merchant_id, alice_id)
    assert after["identity"]["platform_accounts"] == []
    assert after["identity"]["profile"]["nickname"] is None
    assert after["loyalty"]["membership"] is None and after["coupons"] == []
    assert "13800138000" not in json.dumps(after) and "alice" not in json.dumps(after)

    # Her token stops working; the same platform user logging in again is a new member.
    r = await client.get("/v1/me", headers=alice)
    assert r.status_code == 401, r.text
    body = {"merchant_id": shop.merchant_id, "platform": "dev", "code": "alice-code|alice-union"}
    r = await client.post("/v1/auth/login", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["is_new"] is True
    again = bearer(r.json()["token"])
    new_id = await member_id(client, again)
    assert new_id != alice_id
    r = await client.get("/v1/me/membership", headers=again)
    assert r.status_code == 200 and r.json()["points"] == 0
    assert (await client.get("/v1/me/coupons", headers=again)).json()["items"] == []
    # Bob still works as before.
    assert (await client.get("/v1/me", headers=bob)).status_code == 200


async def test_imported_orders_lose_the_key_derived_from_the_external_id(
    client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    csv = tmp_path / "orders.csv"
    csv.write_text(
        "member_external_id,ordered_at,amount,order_external_id\n"
        "ext-42,2026-01-05,1200,\n"
        "ext-42,2026-01-06,800,POS-0001\n"
        "ext-43,2026-01-06,500,\n",
        encoding="utf-8",
    )
    await import_orders_csv(rt, shop.merchant_id, csv)
    async with rt.db.unit_of_work(write=False) as uow:
        stmt = select(PlatformAccount.openid, PlatformAccount.member_id)
        ids = {openid: who for openid, who in await uow.session.execute(stmt)}
    money_before = await money(rt, shop.merchant_id)

    erasure, receipt = await erase_all(rt, shop.merchant_id, ids["ext-42"])
    assert erasure.identifiers == {"ext-42"}
    assert receipt["orders"] == {"orders_kept_anonymous": 2, "import_keys_cleared": 1}
    async with rt.db.unit_of_work(write=False) as uow:
        by_ref = select(Order.external_ref, Order.member_id)
        refs = {ref: who for ref, who in await uow.session.execute(by_ref)}
    assert refs.get("x:POS-0001") == ids["ext-42"]  # the source system's order number stays
    assert refs.get(None) == ids["ext-42"]  # the key hashed from "ext-42" is gone
    assert [r for r in refs if r and r.startswith("r:")] != []  # ext-43's stays
    assert await money(rt, shop.merchant_id) == money_before
    async with rt.db.unit_of_work(write=False) as uow:
        left = select(PlatformAccount.openid).where(PlatformAccount.member_id == ids["ext-42"])
        assert (await uow.session.execute(left)).first() is None


async def test_alliance_exchanges_kept_for_settlement(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    a, b, p = await alliance(client, rt, member_daily_cap=10_000)
    alice = await by_unionid(a, b, "alice")
    carol = await by_unionid(a, b, "carol")
    await give_points(rt, a, alice.a_id, 500, "gift:alice")
    await give_points(rt, a, carol.a_id, 500, "gift:carol")
    assert (await exchange(client, alice.a, p["id"], 200)).status_code == 201
    assert (await exchange(client, alice.b, p["id"], 30)).status_code == 201
    assert (await exchange(client, carol.a, p["id"], 100)).status_code == 201
    carol_before = await rows_of(rt, carol.a_id)

    exported = await export_all(rt, a.merchant_id, alice.a_id)
    exchanges = exported["alliance"]["exchanges"]
    assert sorted((e["direction"], e["points_out"]) for e in exchanges) == [
        ("in", 30),
        ("out", 200),
    ]
    assert {e["partner_merchant_id"] for e in exchanges} == {b.merchant_id}
    assert exported["alliance"]["daily_usage"][0]["points"] == 200

    erasure, receipt = await erase_all(rt, a.merchant_id, alice.a_id)
    assert receipt["alliance"] == {"exchanges_kept": 2, "alliance_member_daily_usage": 1}
    assert erasure.identifiers == {"alice-at-a", "union-alice"}
    stmt = select(func.count()).select_from(Exchange)
    assert await _scalar(rt, stmt) == 3
    where = MemberDailyUsage.member_id == alice.a_id
    assert await _count(rt, MemberDailyUsage, where) == 0
    assert await rows_of(rt, carol.a_id) == carol_before
    # Alice at B keeps her account and her points there; A no longer links her.
    assert await points(client, alice.b) == 60 - 30
    assert await assert_ledgers_balanced(rt, a.merchant_id) == 1
    assert await assert_ledgers_balanced(rt, b.merchant_id) == 2
    r = await client.get("/v1/me/alliance/partners", headers=alice.b)
    assert r.status_code == 200, r.text
    assert [x["linked"] for x in r.json()] == [False]
