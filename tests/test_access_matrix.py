"""The access matrix: every /v1 route against tenancy, staff roles and authentication.

`ROUTES` names every route of the app with who may call it, the permission it needs, how
to build a request that succeeds for the rightful caller, and what another merchant sees.
`test_matrix_covers_every_route` reads the live route table, so a route added without an
entry here fails the suite. The other tests are parametrised over the table:

1. tenancy: merchant A's admin and member tokens never read or change merchant B's rows
   (403 for another merchant's object, per API.md), and B's state is compared before
   and after through B's own credentials;
2. roles: each staff role gets exactly what `ROLE_PERMISSIONS` grants, 403 `forbidden`
   otherwise;
3. authentication: missing, wrong-kind, expired and malformed tokens are 401, and a
   stored Idempotency-Key response is no way around that.

Every refusal is checked against a control: the same request with the rightful
credentials succeeds afterwards, so a 401/403 is never an accident of a bad request.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import func, select

from growthloop.core.auth import ROLE_PERMISSIONS, Permission, Role
from growthloop.core.clock import FrozenClock
from growthloop.core.ids import new_id
from growthloop.core.pagination import encode_cursor
from growthloop.core.runtime import Runtime
from growthloop.identity import service as identity_service
from growthloop.loyalty import service as loyalty_service
from growthloop.payments.models import Payment, Refund
from tests.helpers import Shop, assert_error, bearer, make_shop

_seq = itertools.count(1)

MEMBER_TOKEN_TTL = timedelta(days=30)
ADMIN_TOKEN_TTL = timedelta(hours=12)
PAST = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at production cost is ~0.3 s per hash or verify on a small runner, and this
    module signs up over a hundred merchants and staff. Hash cost has no bearing on who
    may do what; production parameters are restored after each test."""
    monkeypatch.setattr(
        identity_service,
        "_hasher",
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
    )


# ---- tenants -------------------------------------------------------------------------


@dataclass
class Tenant:
    shop: Shop
    member: dict[str, str]
    member_token: str
    member_id: str
    admin_id: str

    @property
    def client(self) -> httpx.AsyncClient:
        return self.shop.client

    @property
    def admin(self) -> dict[str, str]:
        return self.shop.admin

    @property
    def merchant_id(self) -> str:
        return self.shop.merchant_id


async def make_tenant(client: httpx.AsyncClient, rt: Runtime, name: str) -> Tenant:
    shop = await make_shop(client, rt, name)
    code = f"matrix-member-{next(_seq)}"
    member = await shop.member(code)
    r = await client.get("/v1/me", headers=member)
    assert r.status_code == 200, r.text
    member_id = r.json()["id"]
    r = await client.get("/v1/admin/me", headers=shop.admin)
    assert r.status_code == 200, r.text
    return Tenant(shop, member, shop.members[code], member_id, r.json()["admin"]["id"])


async def snapshot(t: Tenant) -> dict[str, Any]:
    """Everything of `t` an access slip could change, read with `t`'s own credentials
    (plus its payment and refund rows, which no endpoint lists)."""
    c = t.client
    reads = {
        "products": ("/v1/admin/products", t.admin),
        "orders": ("/v1/admin/orders", t.admin),
        "categories": ("/v1/admin/categories", t.admin),
        "my_orders": ("/v1/orders", t.member),
        "me": ("/v1/me", t.member),
        "admin_me": ("/v1/admin/me", t.admin),
        "merchant": ("/v1/admin/merchant", t.admin),
        "coupons": ("/v1/admin/coupons", t.admin),
        "my_coupons": ("/v1/me/coupons", t.member),
        "mall_rewards": ("/v1/admin/mall/rewards", t.admin),
        "mall_redemptions": ("/v1/admin/mall/redemptions", t.admin),
        "membership": ("/v1/me/membership", t.member),
        "my_referral": ("/v1/me/referral", t.member),
        "my_consents": ("/v1/me/consents", t.member),
        "alliance_partnerships": ("/v1/admin/alliance/partnerships", t.admin),
        "my_alliance_exchanges": ("/v1/me/alliance/exchanges", t.member),
        "flash_sales": ("/v1/admin/flash-sales", t.admin),
        "group_buys": ("/v1/admin/group-buys", t.admin),
        "bargains": ("/v1/admin/bargains", t.admin),
        "lotteries": ("/v1/admin/lotteries", t.admin),
        "my_lottery_draws": ("/v1/me/lottery-draws", t.member),
        "withdrawals": ("/v1/admin/withdrawals", t.admin),
        "invite_rules": ("/v1/admin/invite-rules", t.admin),
        "my_shares": ("/v1/me/shares", t.member),
        "distribution": ("/v1/admin/distribution", t.admin),
        "my_distribution": ("/v1/me/distribution", t.member),
        "alert_rules": ("/v1/admin/analytics/alert-rules", t.admin),
        "alerts": ("/v1/admin/analytics/alerts", t.admin),
        "my_deletion": ("/v1/me/deletion", t.member),
        "deletions": ("/v1/admin/privacy/deletions", t.admin),
        "overview": ("/v1/admin/analytics/overview", t.admin),
    }
    state: dict[str, Any] = {}
    for name, (path, headers) in reads.items():
        paged = (
            "products",
            "orders",
            "my_orders",
            "coupons",
            "my_coupons",
            "mall_rewards",
            "mall_redemptions",
            "alliance_partnerships",
            "my_alliance_exchanges",
            "flash_sales",
            "group_buys",
            "bargains",
            "lotteries",
            "my_lottery_draws",
            "withdrawals",
            "invite_rules",
            "my_shares",
            "alerts",
            "deletions",
        )
        params = {"limit": 100} if name in paged else None
        r = await c.get(path, params=params, headers=headers)
        assert r.status_code == 200, (path, r.text)
        state[name] = r.json()
    async with t.shop.rt.db.unit_of_work(write=False) as uow:
        for model in (Payment, Refund):
            stmt = select(func.count()).select_from(model).where(model.merchant_id == t.merchant_id)
            state[model.__tablename__] = (await uow.session.execute(stmt)).scalar_one()
    return state


# ---- requests ------------------------------------------------------------------------


@dataclass
class Req:
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    query: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Builder = Callable[[Tenant], Awaitable[Req]]


async def _product(t: Tenant) -> dict[str, Any]:
    return await t.shop.product(stock=10)


async def _pending_order(t: Tenant) -> dict[str, Any]:
    product = await _product(t)
    r = await t.shop.order(t.member, product["id"], 2)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _paid_order(t: Tenant) -> dict[str, Any]:
    product = await _product(t)
    return await t.shop.paid_order(t.member, product["id"], 2)


async def _open_payment(t: Tenant) -> dict[str, Any]:
    order = await _pending_order(t)
    r = await t.client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=t.member
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def build_nothing(t: Tenant) -> Req:
    return Req()


async def build_admin_login(t: Tenant) -> Req:
    email = f"login{next(_seq)}@shop.test"
    r = await t.client.post(
        "/v1/admin/users",
        json={"email": email, "password": "login-password", "role": "support"},
        headers=t.admin,
    )
    assert r.status_code == 201, r.text
    return Req(json={"email": email, "password": "login-password"})


async def build_member_login(t: Tenant) -> Req:
    code = f"matrix-login-{next(_seq)}"
    return Req(json={"merchant_id": t.merchant_id, "platform": "dev", "code": code})


async def build_profile(t: Tenant) -> Req:
    return Req(json={"nickname": f"昵称{next(_seq)}"})


async def build_consents(t: Tenant) -> Req:
    return Req(json={"marketing": True, "analytics": False})


async def build_new_admin_user(t: Tenant) -> Req:
    email = f"staff{next(_seq)}@shop.test"
    return Req(json={"email": email, "password": "staff-password", "role": "analyst"})


async def build_product(t: Tenant) -> Req:
    return Req(params={"product_id": (await _product(t))["id"]})


async def build_new_product(t: Tenant) -> Req:
    return Req(json={"name": f"新品{next(_seq)}", "price": 900, "stock": 5})


async def build_patch_product(t: Tenant) -> Req:
    product_id = (await _product(t))["id"]
    return Req(params={"product_id": product_id}, json={"price": 1, "stock": 0, "on_sale": False})


async def build_stock_adjustment(t: Tenant) -> Req:
    return Req(params={"product_id": (await _product(t))["id"]}, json={"delta": -7})


async def build_program(t: Tenant) -> Req:
    tiers = [{"name": "普通会员"}, {"name": "白银会员", "min_spend": 20000, "discount_percent": 5}]
    return Req(json={"points_per_yuan": 1, "tiers": tiers})


async def build_checkin(t: Tenant) -> Req:
    """Forget today's check-in, so the rightful member's next one succeeds again."""
    from sqlalchemy import update

    from growthloop.loyalty.models import MemberLoyalty

    async with t.shop.rt.db.unit_of_work() as uow:
        await uow.session.execute(
            update(MemberLoyalty)
            .where(MemberLoyalty.member_id == t.member_id)
            .values(last_checkin_day=None)
        )
    return Req()


async def build_new_category(t: Tenant) -> Req:
    return Req(json={"name": f"分类{next(_seq)}"})


async def build_new_order(t: Tenant) -> Req:
    product_id = (await _product(t))["id"]
    return Req(json={"items": [{"product_id": product_id, "quantity": 3}]})


async def build_pending_order(t: Tenant) -> Req:
    return Req(params={"order_id": (await _pending_order(t))["id"]})


async def build_pay(t: Tenant) -> Req:
    order_id = (await _pending_order(t))["id"]
    return Req(params={"order_id": order_id}, json={"provider": "sandbox"})


async def build_paid_order(t: Tenant) -> Req:
    return Req(params={"order_id": (await _paid_order(t))["id"]})


async def build_redeem(t: Tenant) -> Req:
    return Req(json={"code": (await _paid_order(t))["verify_code"]})


async def build_notify(t: Tenant) -> Req:
    payment = await _open_payment(t)
    sandbox = t.shop.rt.gateways["sandbox"]
    body, headers = sandbox.notification(
        payment["payment_id"], payment["amount"], t.shop.rt.clock.now()
    )
    return Req(params={"provider": "sandbox"}, content=body, headers=headers)


async def build_sandbox_succeed(t: Tenant) -> Req:
    return Req(params={"payment_id": (await _open_payment(t))["payment_id"]})


async def _coupon_template(t: Tenant) -> dict[str, Any]:
    body = {"name": f"券{next(_seq)}", "kind": "amount_off", "value": 300}
    r = await t.client.post("/v1/admin/coupons", json=body, headers=t.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def build_coupon_template(t: Tenant) -> Req:
    return Req(params={"template_id": (await _coupon_template(t))["id"]})


async def build_new_coupon_template(t: Tenant) -> Req:
    return Req(json={"name": f"新券{next(_seq)}", "kind": "percent_off", "value": 20})


async def build_patch_coupon_template(t: Tenant) -> Req:
    return Req(params={"template_id": (await _coupon_template(t))["id"]}, json={"active": False})


async def build_issue_coupons(t: Tenant) -> Req:
    template_id = (await _coupon_template(t))["id"]
    return Req(params={"template_id": template_id}, json={"member_ids": [t.member_id]})


async def _points(t: Tenant) -> None:
    """Points for the tenant's member, credited as loyalty credits them (no order needed)."""
    async with t.shop.rt.db.unit_of_work() as uow:
        await loyalty_service.grant_points(
            uow.session, t.merchant_id, t.member_id, 10, reason="gift", key=new_id(), ref=None
        )


async def _mall_reward(t: Tenant, product_id: str | None = None) -> dict[str, Any]:
    product_id = product_id or (await _product(t))["id"]
    body = {
        "kind": "product",
        "name": f"兑换{next(_seq)}",
        "points_cost": 1,
        "stock": 50,
        "product_id": product_id,
    }
    r = await t.client.post("/v1/admin/mall/rewards", json=body, headers=t.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _mall_redemption(t: Tenant, product_id: str | None = None) -> dict[str, Any]:
    await _points(t)
    reward_id = (await _mall_reward(t, product_id))["id"]
    r = await t.client.post(f"/v1/mall/rewards/{reward_id}/redeem", headers=t.member)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def build_new_mall_reward(t: Tenant) -> Req:
    body = {"kind": "physical", "name": f"礼品{next(_seq)}", "points_cost": 50, "stock": 3}
    return Req(json=body)


async def build_mall_reward(t: Tenant) -> Req:
    return Req(params={"reward_id": (await _mall_reward(t))["id"]})


async def build_patch_mall_reward(t: Tenant) -> Req:
    return Req(params={"reward_id": (await _mall_reward(t))["id"]}, json={"stock": 20})


async def build_mall_redeem(t: Tenant) -> Req:
    await _points(t)
    return await build_mall_reward(t)


async def build_mall_redemption(t: Tenant) -> Req:
    return Req(params={"redemption_id": (await _mall_redemption(t))["id"]})


async def build_mall_verify(t: Tenant) -> Req:
    return Req(json={"code": (await _mall_redemption(t))["code"]})


async def _flash_sale(t: Tenant, product_id: str | None = None) -> dict[str, Any]:
    product_id = product_id or (await _product(t))["id"]
    now = t.shop.rt.clock.now()
    body = {
        "product_id": product_id,
        "price": 500,
        "stock": 5,
        "per_member_limit": 5,
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
    }
    r = await t.client.post("/v1/admin/flash-sales", json=body, headers=t.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def build_new_flash_sale(t: Tenant) -> Req:
    product = await _product(t)
    now = t.shop.rt.clock.now()
    return Req(
        json={
            "product_id": product["id"],
            "price": 500,
            "stock": 2,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        }
    )


async def build_flash_sale(t: Tenant) -> Req:
    return Req(params={"sale_id": (await _flash_sale(t))["id"]})


async def build_flash_purchase(t: Tenant) -> Req:
    return Req(params={"sale_id": (await _flash_sale(t))["id"]}, json={"quantity": 1})


async def _group_buy(t: Tenant, product_id: str | None = None) -> dict[str, Any]:
    product_id = product_id or (await _product(t))["id"]
    body = {"product_id": product_id, "group_price": 500, "group_size": 3, "duration_minutes": 60}
    r = await t.client.post("/v1/admin/group-buys", json=body, headers=t.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def build_new_group_buy(t: Tenant) -> Req:
    product_id = (await _product(t))["id"]
    return Req(
        json={"product_id": product_id, "group_price": 500, "group_size": 2, "duration_minutes": 30}
    )


async def build_group_buy(t: Tenant) -> Req:
    return Req(params={"group_buy_id": (await _group_buy(t))["id"]})


async def build_group(t: Tenant) -> Req:
    """A group opened by another member of the tenant's shop, which the tenant's may join."""
    leader = await t.shop.member(f"matrix-leader-{next(_seq)}")
    gb = await _group_buy(t)
    r = await t.client.post(f"/v1/group-buys/{gb['id']}/groups", headers=leader)
    assert r.status_code == 201, r.text
    return Req(params={"group_id": r.json()["group_id"]})


async def _bargain(t: Tenant, product_id: str | None = None) -> dict[str, Any]:
    product_id = product_id or (await _product(t))["id"]
    body = {
        "product_id": product_id,
        "original_price": 1000,
        "floor_price": 100,
        "helpers_needed": 3,
        "duration_minutes": 60,
    }
    r = await t.client.post("/v1/admin/bargains", json=body, headers=t.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def build_new_bargain(t: Tenant) -> Req:
    product_id = (await _product(t))["id"]
    return Req(
        json={
            "product_id": product_id,
            "original_price": 800,
            "floor_price": 400,
            "helpers_needed": 2,
            "duration_minutes": 30,
        }
    )


async def build_bargain(t: Tenant) -> Req:
    return Req(params={"bargain_id": (await _bargain(t))["id"]})


async def _bargain_instance(t: Tenant, owner: dict[str, str]) -> str:
    bargain = await _bargain(t)
    r = await t.client.post(f"/v1/bargains/{bargain['id']}/start", headers=owner)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def build_friends_bargain(t: Tenant) -> Req:
    """An instance another member of the tenant's shop started, for the tenant's to help."""
    owner = await t.shop.member(f"matrix-bargainer-{next(_seq)}")
    return Req(params={"instance_id": await _bargain_instance(t, owner)})


async def build_own_bargain(t: Tenant) -> Req:
    return Req(params={"instance_id": await _bargain_instance(t, t.member)})


def _lottery_body(product_id: str) -> dict[str, Any]:
    """One free draw a day; every draw wins a product voucher (a pool of one prize)."""
    prize = {
        "name": "奶茶券",
        "kind": "product",
        "weight": 1,
        "stock": 50,
        "product_id": product_id,
    }
    return {"name": f"转盘{next(_seq)}", "free_draws_per_day": 1, "prizes": [prize]}


async def _lottery(t: Tenant, product_id: str | None = None) -> dict[str, Any]:
    product_id = product_id or (await _product(t))["id"]
    r = await t.client.post("/v1/admin/lotteries", json=_lottery_body(product_id), headers=t.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _lottery_draw(t: Tenant, lottery_id: str) -> dict[str, Any]:
    r = await t.client.post(f"/v1/lotteries/{lottery_id}/draw", headers=t.member)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def build_new_lottery(t: Tenant) -> Req:
    return Req(json=_lottery_body((await _product(t))["id"]))


async def build_lottery(t: Tenant) -> Req:
    """A fresh lottery: the rightful member's draw is their first of the day there."""
    return Req(params={"lottery_id": (await _lottery(t))["id"]})


async def build_lottery_voucher(t: Tenant) -> Req:
    draw = await _lottery_draw(t, (await _lottery(t))["id"])
    return Req(json={"code": draw["voucher"]["code"]})


async def _commission_ready(t: Tenant, amount: int = 300) -> None:
    """Settled commission of `amount` fen for the tenant's member, who brought a buyer."""
    settings = {"level1_percent": 50, "settle_days": 0, "min_withdrawal": 1}
    r = await t.client.put("/v1/admin/distribution", json=settings, headers=t.admin)
    assert r.status_code == 200, r.text
    code = (await t.client.get("/v1/me/referral", headers=t.member)).json()["referrer_code"]
    body = {
        "merchant_id": t.merchant_id,
        "platform": "dev",
        "code": f"matrix-buyer-{next(_seq)}",
        "referrer_code": code,
    }
    r = await t.client.post("/v1/auth/login", json=body)
    buyer = bearer(r.json()["token"])
    product = await t.shop.product(price=amount * 2, stock=1, options=[])
    order = await t.shop.paid_order(buyer, product["id"])
    r = await t.client.post(f"/v1/admin/orders/{order['id']}/complete", headers=t.admin)
    assert r.status_code == 200, r.text
    from growthloop.campaigns.distribution import tasks as distribution

    await distribution.settle_due_commissions(t.shop.rt.db, t.shop.rt.clock)


async def _withdrawal(t: Tenant) -> dict[str, Any]:
    await _commission_ready(t)
    r = await t.client.post("/v1/me/withdrawals", json={"amount": 100}, headers=t.member)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _seeded_withdrawal(t: Tenant) -> str:
    """A withdrawal row of the tenant's member, written directly: earning the commission
    through the API would add products and orders to the other lists."""
    from growthloop.campaigns.distribution.models import Withdrawal

    async with t.shop.rt.db.unit_of_work() as uow:
        w = Withdrawal(
            merchant_id=t.merchant_id,
            member_id=t.member_id,
            amount=100,
            status="requested",
            created_at=t.shop.rt.clock.now(),
        )
        uow.session.add(w)
        await uow.session.flush()
        return w.id


async def _invite_rule(t: Tenant) -> dict[str, Any]:
    body = {"name": f"邀请{next(_seq)}", "trigger": "registration", "inviter_reward": {"points": 5}}
    r = await t.client.post("/v1/admin/invite-rules", json=body, headers=t.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def build_new_invite_rule(t: Tenant) -> Req:
    return Req(json={"name": "邀请有礼", "trigger": "first_order", "invitee_reward": {"points": 9}})


async def build_invite_rule(t: Tenant) -> Req:
    return Req(params={"rule_id": (await _invite_rule(t))["id"]})


async def build_new_share(t: Tenant) -> Req:
    return Req(json={"target_type": "page", "target_id": f"page-{next(_seq)}"})


async def build_share(t: Tenant) -> Req:
    """A share by another member of the tenant's shop, opened by the tenant's member."""
    sharer = await t.shop.member(f"matrix-sharer-{next(_seq)}")
    body = {"target_type": "page", "target_id": "home"}
    r = await t.client.post("/v1/shares", json=body, headers=sharer)
    assert r.status_code == 201, r.text
    return Req(params={"code": r.json()["code"]})


async def build_distribution(t: Tenant) -> Req:
    return Req(json={"level1_percent": 10, "level2_percent": 5, "settle_days": 7})


async def build_new_withdrawal(t: Tenant) -> Req:
    await _commission_ready(t)
    return Req(json={"amount": 100})


async def build_withdrawal(t: Tenant) -> Req:
    return Req(params={"withdrawal_id": (await _withdrawal(t))["id"]})


# Alliance: each request names a partnership of the tenant with a partner shop of its own.
ALLIANCE_TERMS = {
    "rate": {"points": 1, "partner_points": 1},
    "daily_cap": 1000,
    "settlement_price": {"fen": 1, "points": 1},
}


async def _partnership(t: Tenant, *, offered: bool = False, active: bool = False) -> Any:
    """A partnership of `t` with a new shop: proposed by `t`, or offered to `t`."""
    partner = await make_shop(t.client, t.shop.rt, "盟友")
    proposer, other = (partner, t.shop) if offered else (t.shop, partner)
    body = {"partner_merchant_id": other.merchant_id, **ALLIANCE_TERMS}
    path = "/v1/admin/alliance/partnerships"
    r = await t.client.post(path, json=body, headers=proposer.admin)
    assert r.status_code == 201, r.text
    if active:
        r = await t.client.post(f"{path}/{r.json()['id']}/accept", headers=other.admin)
        assert r.status_code == 200, r.text
    return r.json(), partner


async def build_new_partnership(t: Tenant) -> Req:
    partner = await make_shop(t.client, t.shop.rt, "盟友")
    return Req(json={"partner_merchant_id": partner.merchant_id, **ALLIANCE_TERMS})


async def build_partnership(t: Tenant) -> Req:
    return Req(params={"partnership_id": (await _partnership(t))[0]["id"]})


async def build_partnership_offer(t: Tenant) -> Req:
    return Req(params={"partnership_id": (await _partnership(t, offered=True))[0]["id"]})


async def build_active_partnership(t: Tenant) -> Req:
    return Req(params={"partnership_id": (await _partnership(t, active=True))[0]["id"]})


async def build_suspended_partnership(t: Tenant) -> Req:
    req = await build_active_partnership(t)
    path = f"/v1/admin/alliance/partnerships/{req.params['partnership_id']}/suspend"
    assert (await t.client.post(path, headers=t.admin)).status_code == 200
    return req


async def build_phone(t: Tenant) -> Req:
    return Req(json={"code": "13800138000"})


async def build_alliance_exchange(t: Tenant) -> Req:
    """The tenant's member, known at the partner by the same verified phone, with points."""
    partnership, partner = await _partnership(t, active=True)
    phone = {"code": f"139{next(_seq):08d}"}
    partner_member = await partner.member(f"matrix-partner-{next(_seq)}")
    for member in (t.member, partner_member):
        assert (await t.client.post("/v1/me/phone", json=phone, headers=member)).status_code == 200
    await _points(t)
    return Req(json={"partnership_id": partnership["id"], "points": 1})


async def build_broadcast(t: Tenant) -> Req:
    r = await t.client.put("/v1/me/consents", json={"marketing": True}, headers=t.member)
    assert r.status_code == 200, r.text
    return Req(json={"title": "上新", "body": "新品第二杯半价"})


async def build_pending_deletion(t: Tenant) -> Req:
    r = await t.client.post("/v1/me/deletion", headers=t.member)
    assert r.status_code == 200, r.text
    return Req()


ANALYTICS_RANGE = {"from": "2026-03-01", "to": "2026-03-02"}


async def build_member(t: Tenant) -> Req:
    return Req(params={"member_id": t.member_id})


async def build_merchant_settings(t: Tenant) -> Req:
    body = {"name": f"店{next(_seq)}", "contact_phone": "021-6350 1234"}
    return Req(json={**body, "business_hours": [{"weekday": 0, "open": "09:00", "close": "21:00"}]})


async def _member_ids(t: Tenant) -> set[str]:
    from growthloop.identity.models import Member

    async with t.shop.rt.db.unit_of_work(write=False) as uow:
        stmt = select(Member.id).where(
            Member.merchant_id == t.merchant_id, Member.status == "active"
        )
        return set((await uow.session.execute(stmt)).scalars())


async def build_ingest(t: Tenant) -> Req:
    events = [{"event": "page_view", "distinct_id": f"device-{next(_seq)}"}]
    return Req(json={"events": events}, headers={"X-Ingest-Key": t.shop.ingest_key})


def _segment_auth(t: Tenant) -> dict[str, str]:
    token = base64.b64encode(f"{t.shop.ingest_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


SEGMENT_MESSAGES: dict[str, dict[str, Any]] = {
    "track": {"event": "Order Viewed", "userId": "u-1"},
    "identify": {"userId": "u-1", "anonymousId": "anon-1", "traits": {"plan": "gold"}},
    "page": {"name": "菜单", "anonymousId": "anon-2"},
    "screen": {"name": "首页", "anonymousId": "anon-3"},
    "alias": {"previousId": "anon-4", "userId": "u-1"},
    "group": {"groupId": "g-1", "userId": "u-1"},
}


def build_segment(kind: str) -> Builder:
    async def build(t: Tenant) -> Req:
        if kind in ("batch", "import"):
            body: dict[str, Any] = {"batch": [{"type": "track", **SEGMENT_MESSAGES["track"]}]}
        else:
            body = dict(SEGMENT_MESSAGES[kind])
        return Req(json=body, headers=_segment_auth(t))

    return build


async def build_trends(t: Tenant) -> Req:
    return Req(json={"event": "order.paid", **ANALYTICS_RANGE})


async def build_funnel(t: Tenant) -> Req:
    steps = [{"event": "page_view"}, {"event": "order.paid"}]
    return Req(json={"steps": steps, "window_hours": 24, **ANALYTICS_RANGE})


async def build_retention(t: Tenant) -> Req:
    return Req(
        json={
            "start_event": "member.registered",
            "return_event": "order.paid",
            "period": "day",
            "periods": 3,
            **ANALYTICS_RANGE,
        }
    )


async def build_attribution(t: Tenant) -> Req:
    return Req(json={"by": "platform", **ANALYTICS_RANGE})


ALERT_RULE = {"name": "少单", "metric": "orders", "kind": "threshold", "threshold": 1}


async def build_new_alert_rule(t: Tenant) -> Req:
    return Req(json=ALERT_RULE)


async def build_alert_rule(t: Tenant) -> Req:
    r = await t.client.post("/v1/admin/analytics/alert-rules", json=ALERT_RULE, headers=t.admin)
    assert r.status_code == 201, r.text
    return Req(params={"rule_id": r.json()["id"]})


# ---- the matrix ----------------------------------------------------------------------


class Auth(Enum):
    PUBLIC = "public"  # logins: no token by nature
    CALLBACK = "callback"  # the payment platform calls; authenticated by signature
    INGEST = "ingest key"  # SDKs: the merchant's ingest key (header, body or Basic auth)
    OPTIONAL_MEMBER = "optional member"  # catalog browsing: a member token or ?merchant_id=
    MEMBER = "member"
    ADMIN = "admin"


class Tenancy(Enum):
    NONE = "none"  # no merchant credentials involved (public, callbacks)
    OBJECT = "403"  # names another merchant's object by id: 403 forbidden (API.md)
    HIDDEN = "404"  # looks a value up *within* the caller's merchant: B's is simply not found
    LIST = "list"  # lists only the caller's merchant
    SELF = "self"  # describes the caller
    CREATE = "create"  # creates in the caller's merchant


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    auth: Auth
    ok: int  # the status of success for the rightful caller
    build: Builder  # makes a request that succeeds for the rightful caller of this tenant
    tenancy: Tenancy
    permission: Permission | None = None  # ADMIN only; None: any admin
    hidden_code: str | None = None  # HIDDEN only: the 404's error code
    # LIST only: products | categories | orders | coupons | my_coupons | mall_rewards |
    # mall_redemptions | alliance_partnerships | flash_sales | group_buys | bargains |
    # withdrawals | invite_rules
    lists: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


P = Permission
By, T = Auth, Tenancy
# One route per entry: method, path, caller, success status, request builder, tenancy,
# then (admin routes) the permission it needs. Kept as a hand-laid table.
# fmt: off
ROUTES: list[Route] = [
    # identity
    Route("POST", "/v1/admin/login", By.PUBLIC, 200, build_admin_login, T.NONE),
    Route("POST", "/v1/auth/login", By.PUBLIC, 200, build_member_login, T.NONE),
    Route("GET", "/v1/me", By.MEMBER, 200, build_nothing, T.SELF),
    Route("PATCH", "/v1/me/profile", By.MEMBER, 200, build_profile, T.SELF),
    Route("GET", "/v1/me/referral", By.MEMBER, 200, build_nothing, T.SELF),
    Route("GET", "/v1/admin/me", By.ADMIN, 200, build_nothing, T.SELF, None),
    Route("POST", "/v1/admin/users", By.ADMIN, 201, build_new_admin_user, T.CREATE,
          P.SETTINGS_WRITE),
    Route("GET", "/v1/admin/merchant", By.ADMIN, 200, build_nothing, T.SELF, None),
    Route("PATCH", "/v1/admin/merchant", By.ADMIN, 200, build_merchant_settings, T.SELF,
          P.SETTINGS_WRITE),
    # profiles: the members list
    Route("GET", "/v1/admin/members", By.ADMIN, 200, build_nothing, T.LIST, P.MEMBERS_READ,
          lists="members"),
    Route("GET", "/v1/admin/members/export.csv", By.ADMIN, 200, build_nothing, T.SELF,
          P.MEMBERS_EXPORT),
    Route("GET", "/v1/admin/members/{member_id}", By.ADMIN, 200, build_member, T.OBJECT,
          P.MEMBERS_READ),
    # catalog
    Route("GET", "/v1/products", By.OPTIONAL_MEMBER, 200, build_nothing, T.LIST,
          lists="products"),
    Route("GET", "/v1/products/{product_id}", By.OPTIONAL_MEMBER, 200, build_product, T.OBJECT),
    Route("POST", "/v1/admin/products", By.ADMIN, 201, build_new_product, T.CREATE,
          P.CATALOG_WRITE),
    Route("GET", "/v1/admin/products", By.ADMIN, 200, build_nothing, T.LIST,
          P.CATALOG_READ, lists="products"),
    Route("GET", "/v1/admin/products/{product_id}", By.ADMIN, 200, build_product, T.OBJECT,
          P.CATALOG_READ),
    Route("PATCH", "/v1/admin/products/{product_id}", By.ADMIN, 200, build_patch_product,
          T.OBJECT, P.CATALOG_WRITE),
    Route("POST", "/v1/admin/products/{product_id}/stock-adjustments", By.ADMIN, 200,
          build_stock_adjustment, T.OBJECT, P.CATALOG_WRITE),
    Route("GET", "/v1/admin/categories", By.ADMIN, 200, build_nothing, T.LIST,
          P.CATALOG_READ, lists="categories"),
    Route("POST", "/v1/admin/categories", By.ADMIN, 201, build_new_category, T.CREATE,
          P.CATALOG_WRITE),
    # orders (consumer); POST /v1/orders names B's product in its body
    Route("POST", "/v1/orders", By.MEMBER, 201, build_new_order, T.OBJECT),
    Route("GET", "/v1/orders", By.MEMBER, 200, build_nothing, T.LIST, lists="orders"),
    Route("GET", "/v1/orders/{order_id}", By.MEMBER, 200, build_pending_order, T.OBJECT),
    Route("POST", "/v1/orders/{order_id}/pay", By.MEMBER, 200, build_pay, T.OBJECT),
    Route("POST", "/v1/orders/{order_id}/cancel", By.MEMBER, 200, build_pending_order, T.OBJECT),
    Route("POST", "/v1/orders/{order_id}/refund", By.MEMBER, 200, build_paid_order, T.OBJECT),
    # orders (admin)
    Route("GET", "/v1/admin/orders", By.ADMIN, 200, build_nothing, T.LIST,
          P.ORDERS_READ, lists="orders"),
    Route("GET", "/v1/admin/orders/{order_id}", By.ADMIN, 200, build_paid_order, T.OBJECT,
          P.ORDERS_READ),
    Route("POST", "/v1/admin/orders/{order_id}/refund", By.ADMIN, 200, build_paid_order,
          T.OBJECT, P.ORDERS_REFUND),
    Route("POST", "/v1/admin/orders/{order_id}/complete", By.ADMIN, 200, build_paid_order,
          T.OBJECT, P.ORDERS_FULFIL),
    # 404 by design: a verification code is a secret looked up among the caller's own
    # orders, not an object id; B's code is simply no code of A's.
    Route("POST", "/v1/admin/orders/redeem", By.ADMIN, 200, build_redeem, T.HIDDEN,
          P.ORDERS_FULFIL, hidden_code="code_not_found"),
    # payments: the platform's callbacks carry no merchant credentials (API.md); the
    # notification is verified by its signature; the sandbox completion exists only in
    # sandbox mode and, like a platform, takes the payment id as its only credential.
    Route("POST", "/v1/payments/notify/{provider}", By.CALLBACK, 200, build_notify, T.NONE),
    Route("POST", "/v1/payments/sandbox/{payment_id}/succeed", By.CALLBACK, 200,
          build_sandbox_succeed, T.NONE),
    # promotions (admin)
    Route("POST", "/v1/admin/coupons", By.ADMIN, 201, build_new_coupon_template, T.CREATE,
          P.MARKETING_WRITE),
    Route("GET", "/v1/admin/coupons", By.ADMIN, 200, build_nothing, T.LIST,
          P.MARKETING_READ, lists="coupons"),
    Route("GET", "/v1/admin/coupons/{template_id}", By.ADMIN, 200, build_coupon_template,
          T.OBJECT, P.MARKETING_READ),
    Route("PATCH", "/v1/admin/coupons/{template_id}", By.ADMIN, 200,
          build_patch_coupon_template, T.OBJECT, P.MARKETING_WRITE),
    Route("POST", "/v1/admin/coupons/{template_id}/issue", By.ADMIN, 200, build_issue_coupons,
          T.OBJECT, P.MARKETING_WRITE),
    # promotions (consumer)
    Route("GET", "/v1/coupons", By.MEMBER, 200, build_nothing, T.LIST, lists="coupons"),
    Route("POST", "/v1/coupons/{template_id}/claim", By.MEMBER, 201, build_coupon_template,
          T.OBJECT),
    Route("GET", "/v1/me/coupons", By.MEMBER, 200, build_nothing, T.LIST, lists="my_coupons"),
    # compliance: the policy is public (shown before login); consents describe the caller
    Route("GET", "/v1/privacy/policy", By.PUBLIC, 200, build_nothing, T.NONE),
    Route("GET", "/v1/privacy/notice", By.PUBLIC, 200, build_nothing, T.NONE),
    Route("GET", "/v1/me/consents", By.MEMBER, 200, build_nothing, T.SELF),
    Route("PUT", "/v1/me/consents", By.MEMBER, 200, build_consents, T.SELF),
    Route("GET", "/v1/me/consents/history", By.MEMBER, 200, build_nothing, T.SELF),
    # loyalty
    Route("GET", "/v1/me/membership", By.MEMBER, 200, build_nothing, T.SELF),
    Route("GET", "/v1/me/points/ledger", By.MEMBER, 200, build_nothing, T.SELF),
    Route("POST", "/v1/me/checkin", By.MEMBER, 200, build_checkin, T.SELF),
    Route("GET", "/v1/admin/loyalty/program", By.ADMIN, 200, build_nothing, T.SELF,
          P.MARKETING_READ),
    Route("PUT", "/v1/admin/loyalty/program", By.ADMIN, 200, build_program, T.SELF,
          P.MARKETING_WRITE),
    # points mall (admin)
    Route("POST", "/v1/admin/mall/rewards", By.ADMIN, 201, build_new_mall_reward, T.CREATE,
          P.MARKETING_WRITE),
    Route("GET", "/v1/admin/mall/rewards", By.ADMIN, 200, build_nothing, T.LIST,
          P.MALL_READ, lists="mall_rewards"),
    Route("GET", "/v1/admin/mall/rewards/{reward_id}", By.ADMIN, 200, build_mall_reward,
          T.OBJECT, P.MALL_READ),
    Route("PATCH", "/v1/admin/mall/rewards/{reward_id}", By.ADMIN, 200,
          build_patch_mall_reward, T.OBJECT, P.MARKETING_WRITE),
    Route("GET", "/v1/admin/mall/redemptions", By.ADMIN, 200, build_nothing, T.LIST,
          P.ORDERS_READ, lists="mall_redemptions"),
    Route("POST", "/v1/admin/mall/redemptions/{redemption_id}/fulfil", By.ADMIN, 200,
          build_mall_redemption, T.OBJECT, P.ORDERS_FULFIL),
    Route("POST", "/v1/admin/mall/redemptions/{redemption_id}/cancel", By.ADMIN, 200,
          build_mall_redemption, T.OBJECT, P.ORDERS_REFUND),
    # 404 by design, like an order's code: a voucher code is looked up among the caller's own.
    Route("POST", "/v1/admin/mall/redemptions/verify", By.ADMIN, 200, build_mall_verify,
          T.HIDDEN, P.ORDERS_FULFIL, hidden_code="voucher_not_found"),
    # points mall (consumer)
    Route("GET", "/v1/mall/rewards", By.MEMBER, 200, build_nothing, T.LIST,
          lists="mall_rewards"),
    Route("GET", "/v1/mall/rewards/{reward_id}", By.MEMBER, 200, build_mall_reward, T.OBJECT),
    Route("POST", "/v1/mall/rewards/{reward_id}/redeem", By.MEMBER, 201, build_mall_redeem,
          T.OBJECT),
    Route("GET", "/v1/me/mall/redemptions", By.MEMBER, 200, build_nothing, T.LIST,
          lists="mall_redemptions"),
    # verified phone
    Route("POST", "/v1/me/phone", By.MEMBER, 200, build_phone, T.SELF),
    Route("DELETE", "/v1/me/phone", By.MEMBER, 204, build_nothing, T.SELF),
    # alliance (admin): both merchants of a partnership may act on it, nobody else
    Route("POST", "/v1/admin/alliance/partnerships", By.ADMIN, 201, build_new_partnership,
          T.CREATE, P.MARKETING_WRITE),
    Route("GET", "/v1/admin/alliance/partnerships", By.ADMIN, 200, build_nothing, T.LIST,
          P.ALLIANCE_READ, lists="alliance_partnerships"),
    Route("GET", "/v1/admin/alliance/partnerships/{partnership_id}", By.ADMIN, 200,
          build_partnership, T.OBJECT, P.ALLIANCE_READ),
    Route("POST", "/v1/admin/alliance/partnerships/{partnership_id}/accept", By.ADMIN, 200,
          build_partnership_offer, T.OBJECT, P.MARKETING_WRITE),
    Route("POST", "/v1/admin/alliance/partnerships/{partnership_id}/suspend", By.ADMIN, 200,
          build_active_partnership, T.OBJECT, P.MARKETING_WRITE),
    Route("POST", "/v1/admin/alliance/partnerships/{partnership_id}/resume", By.ADMIN, 200,
          build_suspended_partnership, T.OBJECT, P.MARKETING_WRITE),
    Route("POST", "/v1/admin/alliance/partnerships/{partnership_id}/end", By.ADMIN, 200,
          build_active_partnership, T.OBJECT, P.MARKETING_WRITE),
    Route("GET", "/v1/admin/alliance/partnerships/{partnership_id}/settlement", By.ADMIN, 200,
          build_active_partnership, T.OBJECT, P.ANALYTICS_READ),
    # alliance (consumer)
    Route("GET", "/v1/me/alliance/partners", By.MEMBER, 200, build_nothing, T.SELF),
    Route("POST", "/v1/me/alliance/exchanges", By.MEMBER, 201, build_alliance_exchange,
          T.OBJECT),
    Route("GET", "/v1/me/alliance/exchanges", By.MEMBER, 200, build_nothing, T.SELF),
    # flash sales
    Route("POST", "/v1/admin/flash-sales", By.ADMIN, 201, build_new_flash_sale, T.CREATE,
          P.MARKETING_WRITE),
    Route("GET", "/v1/admin/flash-sales", By.ADMIN, 200, build_nothing, T.LIST,
          P.MARKETING_READ, lists="flash_sales"),
    Route("GET", "/v1/admin/flash-sales/{sale_id}", By.ADMIN, 200, build_flash_sale, T.OBJECT,
          P.MARKETING_READ),
    Route("POST", "/v1/admin/flash-sales/{sale_id}/end", By.ADMIN, 200, build_flash_sale,
          T.OBJECT, P.MARKETING_WRITE),
    Route("GET", "/v1/flash-sales/{sale_id}", By.OPTIONAL_MEMBER, 200, build_flash_sale,
          T.OBJECT),
    Route("POST", "/v1/flash-sales/{sale_id}/purchase", By.MEMBER, 201, build_flash_purchase,
          T.OBJECT),
    # group buys
    Route("POST", "/v1/admin/group-buys", By.ADMIN, 201, build_new_group_buy, T.CREATE,
          P.MARKETING_WRITE),
    Route("GET", "/v1/admin/group-buys", By.ADMIN, 200, build_nothing, T.LIST,
          P.MARKETING_READ, lists="group_buys"),
    Route("GET", "/v1/admin/group-buys/{group_buy_id}", By.ADMIN, 200, build_group_buy,
          T.OBJECT, P.MARKETING_READ),
    Route("POST", "/v1/admin/group-buys/{group_buy_id}/end", By.ADMIN, 200, build_group_buy,
          T.OBJECT, P.MARKETING_WRITE),
    Route("GET", "/v1/admin/group-buys/{group_buy_id}/groups", By.ADMIN, 200, build_group_buy,
          T.OBJECT, P.MARKETING_READ),
    Route("GET", "/v1/me/groups", By.MEMBER, 200, build_nothing, T.SELF),
    Route("GET", "/v1/group-buys/{group_buy_id}", By.OPTIONAL_MEMBER, 200, build_group_buy,
          T.OBJECT),
    Route("GET", "/v1/group-buys/{group_buy_id}/groups", By.OPTIONAL_MEMBER, 200,
          build_group_buy, T.OBJECT),
    Route("POST", "/v1/group-buys/{group_buy_id}/groups", By.MEMBER, 201, build_group_buy,
          T.OBJECT),
    Route("POST", "/v1/groups/{group_id}/join", By.MEMBER, 201, build_group, T.OBJECT),
    Route("GET", "/v1/groups/{group_id}", By.OPTIONAL_MEMBER, 200, build_group, T.OBJECT),
    # bargains
    Route("POST", "/v1/admin/bargains", By.ADMIN, 201, build_new_bargain, T.CREATE,
          P.MARKETING_WRITE),
    Route("GET", "/v1/admin/bargains", By.ADMIN, 200, build_nothing, T.LIST,
          P.MARKETING_READ, lists="bargains"),
    Route("GET", "/v1/admin/bargains/{bargain_id}", By.ADMIN, 200, build_bargain, T.OBJECT,
          P.MARKETING_READ),
    Route("POST", "/v1/admin/bargains/{bargain_id}/end", By.ADMIN, 200, build_bargain,
          T.OBJECT, P.MARKETING_WRITE),
    Route("GET", "/v1/bargains/{bargain_id}", By.OPTIONAL_MEMBER, 200, build_bargain, T.OBJECT),
    Route("POST", "/v1/bargains/{bargain_id}/start", By.MEMBER, 201, build_bargain, T.OBJECT),
    Route("GET", "/v1/bargain-instances/{instance_id}", By.OPTIONAL_MEMBER, 200,
          build_friends_bargain, T.OBJECT),
    Route("POST", "/v1/bargain-instances/{instance_id}/help", By.MEMBER, 200,
          build_friends_bargain, T.OBJECT),
    Route("POST", "/v1/bargain-instances/{instance_id}/purchase", By.MEMBER, 201,
          build_own_bargain, T.OBJECT),
    # lotteries
    Route("POST", "/v1/admin/lotteries", By.ADMIN, 201, build_new_lottery, T.CREATE,
          P.MARKETING_WRITE),
    Route("GET", "/v1/admin/lotteries", By.ADMIN, 200, build_nothing, T.LIST,
          P.MARKETING_READ, lists="lotteries"),
    Route("GET", "/v1/admin/lotteries/{lottery_id}", By.ADMIN, 200, build_lottery, T.OBJECT,
          P.MARKETING_READ),
    Route("POST", "/v1/admin/lotteries/{lottery_id}/end", By.ADMIN, 200, build_lottery,
          T.OBJECT, P.MARKETING_WRITE),
    Route("GET", "/v1/admin/lotteries/{lottery_id}/draws", By.ADMIN, 200, build_lottery,
          T.OBJECT, P.ORDERS_READ),
    # 404 by design, like the mall's: a voucher code is looked up among the caller's own.
    Route("POST", "/v1/admin/lottery-vouchers/verify", By.ADMIN, 200, build_lottery_voucher,
          T.HIDDEN, P.ORDERS_FULFIL, hidden_code="lottery_voucher_not_found"),
    Route("GET", "/v1/lotteries/{lottery_id}", By.OPTIONAL_MEMBER, 200, build_lottery, T.OBJECT),
    Route("POST", "/v1/lotteries/{lottery_id}/draw", By.MEMBER, 201, build_lottery, T.OBJECT),
    Route("GET", "/v1/me/lottery-draws", By.MEMBER, 200, build_nothing, T.LIST,
          lists="my_lottery_draws"),
    # distribution
    Route("PUT", "/v1/admin/distribution", By.ADMIN, 200, build_distribution, T.SELF,
          P.MARKETING_WRITE),
    Route("GET", "/v1/admin/distribution", By.ADMIN, 200, build_nothing, T.SELF,
          P.MARKETING_READ),
    Route("GET", "/v1/me/distribution", By.MEMBER, 200, build_nothing, T.SELF),
    Route("GET", "/v1/me/commissions", By.MEMBER, 200, build_nothing, T.SELF),
    Route("POST", "/v1/me/withdrawals", By.MEMBER, 201, build_new_withdrawal, T.SELF),
    Route("GET", "/v1/me/withdrawals", By.MEMBER, 200, build_nothing, T.SELF),
    Route("GET", "/v1/admin/withdrawals", By.ADMIN, 200, build_nothing, T.LIST,
          P.ORDERS_READ, lists="withdrawals"),
    Route("POST", "/v1/admin/withdrawals/{withdrawal_id}/approve", By.ADMIN, 200,
          build_withdrawal, T.OBJECT, P.ORDERS_REFUND),
    Route("POST", "/v1/admin/withdrawals/{withdrawal_id}/reject", By.ADMIN, 200,
          build_withdrawal, T.OBJECT, P.ORDERS_REFUND),
    # invites
    Route("POST", "/v1/admin/invite-rules", By.ADMIN, 201, build_new_invite_rule, T.CREATE,
          P.MARKETING_WRITE),
    Route("GET", "/v1/admin/invite-rules", By.ADMIN, 200, build_nothing, T.LIST,
          P.MARKETING_READ, lists="invite_rules"),
    Route("GET", "/v1/admin/invite-rules/{rule_id}", By.ADMIN, 200, build_invite_rule,
          T.OBJECT, P.MARKETING_READ),
    Route("POST", "/v1/admin/invite-rules/{rule_id}/end", By.ADMIN, 200, build_invite_rule,
          T.OBJECT, P.MARKETING_WRITE),
    Route("GET", "/v1/me/invites", By.MEMBER, 200, build_nothing, T.SELF),
    # share tracking
    Route("POST", "/v1/shares", By.MEMBER, 201, build_new_share, T.SELF),
    Route("GET", "/v1/me/shares", By.MEMBER, 200, build_nothing, T.SELF),
    Route("POST", "/v1/shares/{code}/open", By.OPTIONAL_MEMBER, 200, build_share, T.OBJECT),
    # analytics: SDKs send with the ingest key, which names the merchant by itself
    Route("POST", "/v1/ingest/batch", By.INGEST, 200, build_ingest, T.NONE),
    # Segment-compatible: the write key as the Basic-auth user (or the body's writeKey)
    *(
        Route("POST", f"/v1/{kind}", By.INGEST, 200, build_segment(kind), T.NONE)
        for kind in ("batch", "import", "track", "identify", "page", "screen", "alias", "group")
    ),
    Route("GET", "/v1/admin/analytics/overview", By.ADMIN, 200, build_nothing, T.SELF,
          P.ANALYTICS_READ),
    Route("GET", "/v1/admin/analytics/platforms", By.ADMIN, 200, build_nothing, T.SELF,
          P.ANALYTICS_READ),
    Route("POST", "/v1/admin/analytics/trends", By.ADMIN, 200, build_trends, T.SELF,
          P.ANALYTICS_READ),
    Route("POST", "/v1/admin/analytics/funnel", By.ADMIN, 200, build_funnel, T.SELF,
          P.ANALYTICS_READ),
    Route("POST", "/v1/admin/analytics/retention", By.ADMIN, 200, build_retention, T.SELF,
          P.ANALYTICS_READ),
    Route("POST", "/v1/admin/analytics/attribution", By.ADMIN, 200, build_attribution, T.SELF,
          P.ANALYTICS_READ),
    Route("POST", "/v1/admin/analytics/alert-rules", By.ADMIN, 201, build_new_alert_rule,
          T.CREATE, P.MARKETING_WRITE),
    Route("GET", "/v1/admin/analytics/alert-rules", By.ADMIN, 200, build_nothing, T.LIST,
          P.ANALYTICS_READ, lists="alert_rules"),
    Route("DELETE", "/v1/admin/analytics/alert-rules/{rule_id}", By.ADMIN, 204,
          build_alert_rule, T.OBJECT, P.MARKETING_WRITE),
    Route("POST", "/v1/admin/analytics/alert-rules/{rule_id}/evaluate", By.ADMIN, 200,
          build_alert_rule, T.OBJECT, P.MARKETING_WRITE),
    Route("GET", "/v1/admin/analytics/alerts", By.ADMIN, 200, build_nothing, T.LIST,
          P.ANALYTICS_READ, lists="alerts"),
    # privacy requests: the member's own; the queue and the audit log for privacy staff
    Route("POST", "/v1/me/data-export", By.MEMBER, 200, build_nothing, T.SELF),
    Route("POST", "/v1/me/deletion", By.MEMBER, 200, build_nothing, T.SELF),
    Route("GET", "/v1/me/deletion", By.MEMBER, 200, build_nothing, T.SELF),
    Route("POST", "/v1/me/deletion/cancel", By.MEMBER, 200, build_pending_deletion, T.SELF),
    Route("GET", "/v1/admin/privacy/deletions", By.ADMIN, 200, build_nothing, T.LIST,
          P.PRIVACY_HANDLE, lists="deletions"),
    Route("GET", "/v1/admin/audit", By.ADMIN, 200, build_nothing, T.SELF, P.PRIVACY_HANDLE),
    # engagement: marketing to members' inboxes (only those who consent)
    Route("POST", "/v1/admin/broadcasts", By.ADMIN, 201, build_broadcast, T.CREATE,
          P.MARKETING_WRITE),
    Route("GET", "/v1/me/inbox", By.MEMBER, 200, build_nothing, T.SELF),
]
# fmt: on
ROUTE_TABLE = {route.key: route for route in ROUTES}
assert len(ROUTE_TABLE) == len(ROUTES), "a route is listed twice"

CONSUMER = (Auth.MEMBER, Auth.OPTIONAL_MEMBER)
ADMIN_ROUTES = [r for r in ROUTES if r.auth is Auth.ADMIN]


def routes(
    *,
    auth: tuple[Auth, ...] = (),
    tenancy: tuple[Tenancy, ...] = (),
    methods: tuple[str, ...] = (),
) -> pytest.MarkDecorator:
    chosen = [
        r
        for r in ROUTES
        if (not auth or r.auth in auth)
        and (not tenancy or r.tenancy in tenancy)
        and (not methods or r.method in methods)
    ]
    return pytest.mark.parametrize("route", chosen, ids=str)


async def send(
    client: httpx.AsyncClient,
    route: Route,
    req: Req,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> httpx.Response:
    kwargs: dict[str, Any] = {}
    if req.content is not None:
        kwargs["content"] = req.content
    elif req.json is not None:
        kwargs["json"] = req.json
    return await client.request(
        route.method,
        route.path.format(**req.params),
        params={**req.query, **(query or {})} or None,
        headers={**req.headers, **(headers or {})},
        **kwargs,
    )


def rightful(t: Tenant, route: Route) -> dict[str, str]:
    """`t`'s credentials of the kind `route` wants; `wrong_kind` gives the other kind."""
    return t.member if route.auth in CONSUMER else t.admin


def wrong_kind(t: Tenant, route: Route) -> dict[str, str]:
    return t.admin if route.auth in CONSUMER else t.member


def repointed(rt: Runtime, t: Tenant, route: Route, merchant_id: str) -> dict[str, str]:
    """A validly signed token for `t`'s own account whose merchant claim names another
    merchant: whoever could sign it still reaches nothing."""
    now = rt.clock.now()
    if route.auth in CONSUMER:
        token = rt.tokens.issue("member", t.member_id, merchant_id, now, MEMBER_TOKEN_TTL)
    else:
        token = rt.tokens.issue("admin", t.admin_id, merchant_id, now, ADMIN_TOKEN_TTL)
    return bearer(token)


# ---- 0. the matrix names every route -------------------------------------------------


async def test_matrix_covers_every_route(stack: Any) -> None:
    # Included routers are kept as branches in this FastAPI; flatten them as OpenAPI does.
    served = {
        (method, context.path)
        for context in iter_route_contexts(stack.app.routes)
        if isinstance(context.original_route, APIRoute) and (context.path or "").startswith("/v1")
        for method in context.methods or ()
    }
    assert served, "found no /v1 routes: the route walk is broken, not the app"
    missing = sorted(served - ROUTE_TABLE.keys())
    stale = sorted(ROUTE_TABLE.keys() - served)
    assert not missing, f"routes without an access-matrix entry: {missing}"
    assert not stale, f"matrix entries for routes the app does not serve: {stale}"


def test_the_table_is_consistent() -> None:
    for route in ROUTES:
        if route.auth is not Auth.ADMIN:
            assert route.permission is None, route
        assert (route.tenancy is Tenancy.HIDDEN) == (route.hidden_code is not None), route
        assert (route.tenancy is Tenancy.LIST) == (route.lists is not None), route
        unscoped = (Auth.PUBLIC, Auth.CALLBACK, Auth.INGEST)
        assert (route.tenancy is Tenancy.NONE) == (route.auth in unscoped), route


# ---- 1. tenancy ----------------------------------------------------------------------


@routes(tenancy=(Tenancy.OBJECT, Tenancy.HIDDEN))
async def test_another_merchants_object_is_refused(
    client: httpx.AsyncClient, rt: Runtime, route: Route
) -> None:
    a = await make_tenant(client, rt, "甲店")
    b = await make_tenant(client, rt, "乙店")
    req = await route.build(b)
    before = await snapshot(b)

    r = await send(client, route, req, rightful(a, route))
    if route.tenancy is Tenancy.OBJECT:
        error = assert_error(r, 403, "forbidden")
        assert "required_permission" not in error["details"], error
    else:
        assert_error(r, 404, route.hidden_code)
    assert_error(await send(client, route, req, wrong_kind(a, route)), 401, "unauthenticated")
    r = await send(client, route, req, repointed(rt, a, route, b.merchant_id))
    assert_error(r, 401, "unauthenticated")
    if route.auth is Auth.OPTIONAL_MEMBER:
        # Naming B in the query does not switch a member's merchant...
        r = await send(client, route, req, a.member, {"merchant_id": b.merchant_id})
        assert_error(r, 403, "forbidden")
        # ...and browsing A anonymously does not reach B's product either.
        assert_error(await send(client, route, req, query={"merchant_id": a.merchant_id}), 403)

    # Nothing of B's moved: stock, prices, order statuses, payments, refunds.
    assert await snapshot(b) == before

    # Control: B's own credentials do succeed with the very same request.
    r = await send(client, route, req, rightful(b, route))
    assert r.status_code == route.ok, r.text


async def _seed(t: Tenant) -> dict[str, set[str]]:
    r = await t.client.post(
        "/v1/admin/categories", json={"name": f"分类{next(_seq)}"}, headers=t.admin
    )
    assert r.status_code == 201, r.text
    category = r.json()
    product = await t.shop.product(category=category["name"])
    order = await t.shop.paid_order(t.member, product["id"])
    template = await _coupon_template(t)
    r = await t.client.post(f"/v1/coupons/{template['id']}/claim", headers=t.member)
    assert r.status_code == 201, r.text
    redemption = await _mall_redemption(t, product["id"])
    partnership, _ = await _partnership(t)
    flash_sale = await _flash_sale(t, product["id"])
    group_buy = await _group_buy(t, product["id"])
    bargain = await _bargain(t, product["id"])
    lottery = await _lottery(t, product["id"])
    lottery_draw = await _lottery_draw(t, lottery["id"])
    withdrawal = await _seeded_withdrawal(t)
    invite_rule = await _invite_rule(t)
    rule_id = (await build_alert_rule(t)).params["rule_id"]
    fired = await t.client.post(
        f"/v1/admin/analytics/alert-rules/{rule_id}/evaluate", headers=t.admin
    )
    assert fired.status_code == 200 and fired.json() is not None, fired.text
    alert = fired.json()
    asked = await t.client.post("/v1/me/deletion", headers=t.member)
    assert asked.status_code == 200, asked.text
    deletion = asked.json()["request_id"]
    return {
        "products": {product["id"]},
        "categories": {category["id"]},
        "orders": {order["id"]},
        "coupons": {template["id"]},
        "my_coupons": {r.json()["id"]},
        "mall_rewards": {redemption["reward_id"]},
        "mall_redemptions": {redemption["id"]},
        "alliance_partnerships": {partnership["id"]},
        "flash_sales": {flash_sale["id"]},
        "group_buys": {group_buy["id"]},
        "bargains": {bargain["id"]},
        "lotteries": {lottery["id"]},
        "my_lottery_draws": {lottery_draw["id"]},
        "withdrawals": {withdrawal},
        "invite_rules": {invite_rule["id"]},
        "alert_rules": {rule_id},
        "alerts": {alert["id"]},
        "deletions": {deletion},
        "members": await _member_ids(t),
    }


def _ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    items = body if isinstance(body, list) else body["items"]
    return {item["id"] for item in items}


@routes(tenancy=(Tenancy.LIST,))
async def test_lists_show_only_the_callers_merchant(
    client: httpx.AsyncClient, rt: Runtime, route: Route
) -> None:
    a = await make_tenant(client, rt, "甲店")
    b = await make_tenant(client, rt, "乙店")
    seen_a, seen_b = await _seed(a), await _seed(b)
    assert route.lists is not None
    mine, theirs = seen_a[route.lists], seen_b[route.lists]
    req = await route.build(a)

    assert _ids(await send(client, route, req, rightful(a, route))) == mine
    assert_error(await send(client, route, req, wrong_kind(a, route)), 401, "unauthenticated")
    r = await send(client, route, req, repointed(rt, a, route, b.merchant_id))
    assert_error(r, 401, "unauthenticated")

    # Filters and cursors naming B's rows reach nothing of B's.
    creds = rightful(a, route)
    b_category = next(iter(seen_b["categories"]))
    if route.path == "/v1/products":
        r = await send(client, route, req, creds, {"merchant_id": b.merchant_id})
        assert _ids(r) == mine  # a member browses their own merchant, whatever the query says
        # 404 by design: a category filter is looked up among the caller's categories.
        r = await send(client, route, req, creds, {"category_id": b_category})
        assert_error(r, 404, "category_not_found")
    if route.path == "/v1/admin/products":
        r = await send(client, route, req, creds, {"category_id": b_category})
        assert_error(r, 404, "category_not_found")
    if route.path == "/v1/admin/orders":
        r = await send(client, route, req, creds, {"member_id": b.member_id})
        assert _ids(r) == set()
    if route.lists in (
        "products",
        "orders",
        "coupons",
        "my_coupons",
        "mall_redemptions",
        "alliance_partnerships",
        "lotteries",
        "my_lottery_draws",
        "members",
    ):
        for their_id in theirs:
            r = await send(client, route, req, creds, {"cursor": encode_cursor(their_id)})
            assert not _ids(r) & theirs

    # Control: B sees exactly its own.
    assert _ids(await send(client, route, req, rightful(b, route))) == theirs


@routes(tenancy=(Tenancy.SELF,))
async def test_self_routes_describe_the_caller(
    client: httpx.AsyncClient, rt: Runtime, route: Route
) -> None:
    a = await make_tenant(client, rt, "甲店")
    b = await make_tenant(client, rt, "乙店")
    for t in (a, b):
        req = await route.build(t)  # what the caller needs of their own (e.g. a balance)
        r = await send(client, route, req, rightful(t, route))
        assert r.status_code == route.ok, r.text
        if route.path == "/v1/me" or route.path == "/v1/me/profile":
            assert r.json()["id"] == t.member_id
        elif route.path == "/v1/admin/me":
            assert r.json()["merchant"]["id"] == t.merchant_id
            assert r.json()["admin"]["id"] == t.admin_id
        elif route.path == "/v1/admin/merchant":
            assert r.json()["id"] == t.merchant_id
    assert_error(await send(client, route, req, wrong_kind(a, route)), 401, "unauthenticated")
    r = await send(client, route, req, repointed(rt, a, route, b.merchant_id))
    assert_error(r, 401, "unauthenticated")


@routes(tenancy=(Tenancy.CREATE,))
async def test_creations_land_in_the_callers_merchant(
    client: httpx.AsyncClient, rt: Runtime, route: Route
) -> None:
    a = await make_tenant(client, rt, "甲店")
    b = await make_tenant(client, rt, "乙店")
    await _seed(b)
    req = await route.build(a)
    if route.path == "/v1/admin/categories":
        # Category names are unique per merchant: B's name neither blocks nor leaks.
        r = await client.get("/v1/admin/categories", headers=b.admin)
        req.json["name"] = r.json()[0]["name"]
    before = await snapshot(b)

    assert_error(await send(client, route, req, wrong_kind(a, route)), 401, "unauthenticated")
    r = await send(client, route, req, repointed(rt, a, route, b.merchant_id))
    assert_error(r, 401, "unauthenticated")
    r = await send(client, route, req, a.admin)
    assert r.status_code == route.ok, r.text
    created = r.json()
    assert await snapshot(b) == before

    if route.path == "/v1/admin/products":
        r = await client.get(f"/v1/admin/products/{created['id']}", headers=b.admin)
        assert_error(r, 403, "forbidden")
        r = await client.get(f"/v1/admin/products/{created['id']}", headers=a.admin)
        assert r.status_code == 200, r.text
    elif route.path == "/v1/admin/categories":
        r = await client.get("/v1/admin/categories", headers=a.admin)
        assert created["id"] in {c["id"] for c in r.json()}
    elif route.path == "/v1/admin/coupons":
        r = await client.get(f"/v1/admin/coupons/{created['id']}", headers=b.admin)
        assert_error(r, 403, "forbidden")
        r = await client.get(f"/v1/admin/coupons/{created['id']}", headers=a.admin)
        assert r.status_code == 200, r.text
    elif route.path == "/v1/admin/mall/rewards":
        r = await client.get(f"/v1/admin/mall/rewards/{created['id']}", headers=b.admin)
        assert_error(r, 403, "forbidden")
        r = await client.get(f"/v1/admin/mall/rewards/{created['id']}", headers=a.admin)
        assert r.status_code == 200, r.text
    elif route.path == "/v1/admin/alliance/partnerships":
        assert created["merchant_id"] == a.merchant_id
        assert created["partner_merchant_id"] == req.json["partner_merchant_id"]
        path = f"/v1/admin/alliance/partnerships/{created['id']}"
        assert_error(await client.get(path, headers=b.admin), 403, "forbidden")
        assert (await client.get(path, headers=a.admin)).status_code == 200
    elif route.path == "/v1/admin/flash-sales":
        path = f"/v1/admin/flash-sales/{created['id']}"
        assert_error(await client.get(path, headers=b.admin), 403, "forbidden")
        assert (await client.get(path, headers=a.admin)).status_code == 200
    elif route.path == "/v1/admin/group-buys":
        path = f"/v1/admin/group-buys/{created['id']}"
        assert_error(await client.get(path, headers=b.admin), 403, "forbidden")
        assert (await client.get(path, headers=a.admin)).status_code == 200
    elif route.path == "/v1/admin/bargains":
        path = f"/v1/admin/bargains/{created['id']}"
        assert_error(await client.get(path, headers=b.admin), 403, "forbidden")
        assert (await client.get(path, headers=a.admin)).status_code == 200
    elif route.path == "/v1/admin/lotteries":
        path = f"/v1/admin/lotteries/{created['id']}"
        assert_error(await client.get(path, headers=b.admin), 403, "forbidden")
        assert (await client.get(path, headers=a.admin)).status_code == 200
        assert [p["product_id"] for p in created["prizes"]] == [req.json["prizes"][0]["product_id"]]
    elif route.path == "/v1/admin/invite-rules":
        path = f"/v1/admin/invite-rules/{created['id']}"
        assert_error(await client.get(path, headers=b.admin), 403, "forbidden")
        assert (await client.get(path, headers=a.admin)).status_code == 200
    elif route.path == "/v1/admin/broadcasts":
        assert created["sent"] == 1  # the tenant's own member, who consented
        inbox = await client.get("/v1/me/inbox", headers=a.member)
        assert [m["title"] for m in inbox.json()["items"]] == ["上新"]
        assert (await client.get("/v1/me/inbox", headers=b.member)).json()["items"] == []
    elif route.path == "/v1/admin/analytics/alert-rules":
        path = "/v1/admin/analytics/alert-rules"
        assert created["id"] in {
            x["id"] for x in (await client.get(path, headers=a.admin)).json()["items"]
        }
        assert created["id"] not in {
            x["id"] for x in (await client.get(path, headers=b.admin)).json()["items"]
        }
        r = await client.post(f"{path}/{created['id']}/evaluate", headers=b.admin)
        assert_error(r, 403, "forbidden")
    elif route.path == "/v1/admin/users":
        r = await client.post(
            "/v1/admin/login", json={"email": req.json["email"], "password": "staff-password"}
        )
        assert r.status_code == 200, r.text
        r = await client.get("/v1/admin/me", headers=bearer(r.json()["token"]))
        assert r.json()["merchant"]["id"] == a.merchant_id
    else:  # pragma: no cover - a new CREATE route needs its own check here
        pytest.fail(f"no post-creation check for {route}")


@routes(tenancy=(Tenancy.NONE,))
async def test_public_and_callback_routes_need_no_token(
    client: httpx.AsyncClient, rt: Runtime, route: Route
) -> None:
    a = await make_tenant(client, rt, "甲店")
    req = await route.build(a)
    if route.path == "/v1/payments/notify/{provider}":
        # A callback is authenticated by its signature, never by a bearer token.
        forged = Req(req.params, content=req.content, headers={"X-Sandbox-Signature": "00" * 32})
        r = await send(client, route, forged, a.admin)
        assert_error(r, 401, "invalid_signature")
    r = await send(client, route, req)
    assert r.status_code == route.ok, r.text


@routes(auth=(Auth.INGEST,))
async def test_ingest_keys_write_only_their_merchants_events(
    client: httpx.AsyncClient, rt: Runtime, route: Route
) -> None:
    a = await make_tenant(client, rt, "甲店")
    b = await make_tenant(client, rt, "乙店")
    req = await route.build(a)
    for wrong in ({}, {"X-Ingest-Key": "ik_forged"}, a.admin, a.member):
        forged = Req(req.params, json=req.json, content=req.content, headers=wrong)
        assert_error(await send(client, route, forged), 401, "invalid_ingest_key")
    r = await send(client, route, req)
    assert r.status_code == route.ok, r.text
    stored = 0 if route.path == "/v1/group" else 1  # a group call is accepted, not an event
    assert await rt.analytics.store.count(a.merchant_id) >= stored
    assert await rt.analytics.store.count(b.merchant_id) == 0


# ---- 2. roles ------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role), ids=str)
async def test_role_permission_matrix(client: httpx.AsyncClient, rt: Runtime, role: Role) -> None:
    a = await make_tenant(client, rt, "甲店")
    staff = await a.shop.staff(role.value)
    granted = ROLE_PERMISSIONS[role]

    r = await client.get("/v1/admin/me", headers=staff)
    assert r.status_code == 200, r.text
    assert set(r.json()["permissions"]) == {p.value for p in granted}
    assert (r.json()["merchant"]["ingest_key"] is not None) == (role is Role.OWNER)

    wrong: list[str] = []
    for route in ADMIN_ROUTES:
        req = await route.build(a)
        allowed = route.permission is None or route.permission in granted
        # A refused GET cannot have changed anything worth a snapshot; a refused write must not.
        before = None if allowed or route.method == "GET" else await snapshot(a)
        r = await send(client, route, req, staff)
        if allowed:
            if r.status_code != route.ok:
                wrong.append(f"{route}: expected {route.ok}, got {r.status_code} {r.text}")
            continue
        try:
            error = assert_error(r, 403, "forbidden")
            assert error["details"].get("required_permission") == route.permission, error
        except AssertionError as exc:
            wrong.append(f"{route}: expected 403 forbidden, got {exc}")
            continue
        if before is not None and await snapshot(a) != before:
            wrong.append(f"{route}: refused with 403 but changed the merchant's state")
        # Control: the owner may, with the same request.
        r = await send(client, route, req, a.admin)
        if r.status_code != route.ok:
            wrong.append(f"{route}: owner control expected {route.ok}, got {r.text}")
    assert not wrong, f"{role.value}:\n" + "\n".join(wrong)


# ---- 3. authentication ---------------------------------------------------------------


def malformed(token: str, *, bearer_scheme_only: bool) -> dict[str, str]:
    """Authorization headers that must not authenticate, derived from a valid `token`."""
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    other = "A" if signature[0] != "A" else "B"
    variants = {
        "garbage": "Bearer not-a-token",
        "truncated": f"Bearer {token[:-12]}",
        "signature altered": f"Bearer {header}.{payload}.{other}{signature[1:]}",
        "payload of another token": "Bearer "
        + ".".join([header, jwt.encode({**claims, "sub": "x"}, "k" * 32).split(".")[1], signature]),
        "signed with another key": "Bearer " + jwt.encode(claims, "another-key-" * 4),
        "alg none": "Bearer " + jwt.encode(claims, None, algorithm="none"),
        "two tokens": f"Bearer {token} {token}",
    }
    if not bearer_scheme_only:
        # Not a bearer credential at all: on a route that needs a token that is no token.
        variants["basic scheme"] = f"Basic {token}"
        variants["no scheme"] = token
    return variants


@routes(auth=(Auth.MEMBER, Auth.OPTIONAL_MEMBER, Auth.ADMIN))
async def test_authentication(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, route: Route
) -> None:
    a = await make_tenant(client, rt, "甲店")
    req = await route.build(a)
    consumer = route.auth in CONSUMER
    token = a.member_token if consumer else a.shop.admin_token
    ttl = MEMBER_TOKEN_TTL if consumer else ADMIN_TOKEN_TTL
    start = clock.now()

    refusals: dict[str, dict[str, str]] = {
        "wrong kind of token": wrong_kind(a, route),
        **{
            name: {"Authorization": value}
            for name, value in malformed(
                token, bearer_scheme_only=route.auth is Auth.OPTIONAL_MEMBER
            ).items()
        },
    }
    if route.auth is Auth.OPTIONAL_MEMBER:
        # By design the catalog can be browsed without logging in, naming the merchant;
        # without a token and without ?merchant_id= there is nothing to browse.
        assert_error(await send(client, route, req), 422, "merchant_required")
        r = await send(client, route, req, query={"merchant_id": a.merchant_id})
        assert r.status_code == route.ok, r.text
    else:
        refusals["no token"] = {}
    wrong = []
    for name, headers in refusals.items():
        r = await send(client, route, req, headers)
        try:
            assert_error(r, 401, "unauthenticated")
        except AssertionError as exc:
            wrong.append(f"{name}: {exc}")

    clock.set(start + ttl + PAST)
    r = await send(client, route, req, bearer(token))
    try:
        assert_error(r, 401, "unauthenticated")
    except AssertionError as exc:
        wrong.append(f"expired token: {exc}")
    clock.set(start)
    assert not wrong, f"{route}:\n" + "\n".join(wrong)

    # Control: the same request with the valid token succeeds.
    r = await send(client, route, req, bearer(token))
    assert r.status_code == route.ok, r.text


@pytest.mark.parametrize(
    ("path", "kind", "ttl"),
    [("/v1/me", "member", MEMBER_TOKEN_TTL), ("/v1/admin/me", "admin", ADMIN_TOKEN_TTL)],
)
async def test_tokens_expire_exactly_at_their_lifetime(
    client: httpx.AsyncClient,
    rt: Runtime,
    clock: FrozenClock,
    path: str,
    kind: str,
    ttl: timedelta,
) -> None:
    a = await make_tenant(client, rt, "甲店")
    headers = a.member if kind == "member" else a.admin
    start = clock.now()
    clock.set(start + ttl - PAST)
    r = await client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    clock.set(start + ttl)
    assert_error(await client.get(path, headers=headers), 401, "unauthenticated")


@routes(auth=(Auth.MEMBER, Auth.ADMIN), methods=("POST",))
async def test_idempotent_replay_does_not_bypass_authentication(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, route: Route
) -> None:
    """A stored `Idempotency-Key` response is served only to a caller who may still make
    the request: not once the token has expired, and never to another merchant."""
    a = await make_tenant(client, rt, "甲店")
    b = await make_tenant(client, rt, "乙店")
    req = await route.build(a)
    key = {"Idempotency-Key": f"matrix-{next(_seq)}"}
    r = await send(client, route, req, {**rightful(a, route), **key})
    assert r.status_code == route.ok, r.text

    r = await send(client, route, req, {**rightful(b, route), **key})
    assert "idempotent-replayed" not in r.headers, f"B was served A's response: {r.text}"

    ttl = MEMBER_TOKEN_TTL if route.auth in CONSUMER else ADMIN_TOKEN_TTL
    clock.set(clock.now() + ttl + PAST)
    r = await send(client, route, req, {**rightful(a, route), **key})
    assert_error(r, 401, "unauthenticated")


async def test_loyalty_is_per_merchant(client: httpx.AsyncClient, rt: Runtime) -> None:
    """A's programme and A's member's points never show at B."""
    a = await make_tenant(client, rt, "甲店")
    b = await make_tenant(client, rt, "乙店")
    r = await client.put(
        "/v1/admin/loyalty/program", json=(await build_program(a)).json, headers=a.admin
    )
    assert r.status_code == 200
    assert (await client.post("/v1/me/checkin", headers=a.member)).status_code == 200
    program_b = (await client.get("/v1/admin/loyalty/program", headers=b.admin)).json()
    assert [t["name"] for t in program_b["tiers"]] == ["普通会员"]
    assert (await client.get("/v1/me/membership", headers=b.member)).json()["points"] == 0
    assert (await client.get("/v1/me/points/ledger", headers=b.member)).json()["items"] == []
    assert len((await client.get("/v1/me/points/ledger", headers=a.member)).json()["items"]) == 1
