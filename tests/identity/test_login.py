from __future__ import annotations

import httpx

from growthloop.core.runtime import Runtime
from growthloop.identity.platforms import PlatformIdentity
from tests.helpers import assert_error, bearer, make_shop


class FakeWeChat:
    """Stands in for jscode2session: code 'wx:<openid>:<unionid>'."""

    platform = "wechat"

    async def exchange_code(self, code: str) -> PlatformIdentity:
        _, openid, unionid = code.split(":")
        return PlatformIdentity("wechat", "wxapp", openid, unionid or None)


class FakeApp(FakeWeChat):
    platform = "app"

    async def exchange_code(self, code: str) -> PlatformIdentity:
        _, openid, unionid = code.split(":")
        return PlatformIdentity("app", "wxopen", openid, unionid or None)


async def test_dev_login_is_stable(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    body = {"merchant_id": shop.merchant_id, "platform": "dev", "code": "alice", "share_code": "s1"}
    first = (await client.post("/v1/auth/login", json=body)).json()
    second = (await client.post("/v1/auth/login", json=body)).json()
    assert first["is_new"] is True and second["is_new"] is False
    assert first["member_id"] == second["member_id"]
    me = (await client.get("/v1/me", headers=bearer(second["token"]))).json()
    assert me["id"] == first["member_id"] and me["platforms"] == ["dev"]
    # The same external id at another merchant is another member.
    other = await make_shop(client, rt)
    r = await client.post("/v1/auth/login", json={**body, "merchant_id": other.merchant_id})
    assert r.json()["is_new"] is True and r.json()["member_id"] != first["member_id"]


async def test_one_member_across_ends_by_unionid(client: httpx.AsyncClient, rt: Runtime) -> None:
    rt.platforms["wechat"], rt.platforms["app"] = FakeWeChat(), FakeApp()
    try:
        shop = await make_shop(client, rt)
        mini = await client.post(
            "/v1/auth/login",
            json={"merchant_id": shop.merchant_id, "platform": "wechat", "code": "wx:o-mini:u-1"},
        )
        app = await client.post(
            "/v1/auth/login",
            json={"merchant_id": shop.merchant_id, "platform": "app", "code": "wx:o-app:u-1"},
        )
        stranger = await client.post(
            "/v1/auth/login",
            json={"merchant_id": shop.merchant_id, "platform": "app", "code": "wx:o-x:u-2"},
        )
        assert mini.json()["is_new"] is True
        assert app.json()["is_new"] is False and app.json()["member_id"] == mini.json()["member_id"]
        assert stranger.json()["member_id"] != mini.json()["member_id"]
        me = (await client.get("/v1/me", headers=bearer(app.json()["token"]))).json()
        assert me["platforms"] == ["app", "wechat"]
    finally:
        del rt.platforms["wechat"], rt.platforms["app"]


async def test_deleted_member_token_stops_working(client: httpx.AsyncClient, rt: Runtime) -> None:
    from sqlalchemy import update

    from growthloop.identity.models import Member

    shop = await make_shop(client, rt)
    r = await client.post(
        "/v1/auth/login", json={"merchant_id": shop.merchant_id, "platform": "dev", "code": "bob"}
    )
    token = r.json()["token"]
    async with rt.db.unit_of_work() as uow:
        await uow.session.execute(update(Member).values(status="deleted"))
    assert_error(await client.get("/v1/me", headers=bearer(token)), 401)


async def test_admin_login_rate_limited(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    email = "owner-rl@x.test"
    for _ in range(rt.settings.admin_login_attempts_per_minute):
        assert_error(
            await client.post("/v1/admin/login", json={"email": email, "password": "wrong"}), 401
        )
    assert_error(
        await client.post("/v1/admin/login", json={"email": email, "password": "wrong"}),
        429,
        "login_rate_limited",
    )
    assert shop.merchant_id


async def test_roles_and_staff(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    me = (await client.get("/v1/admin/me", headers=shop.admin)).json()
    assert me["admin"]["role"] == "owner" and me["merchant"]["ingest_key"] == shop.ingest_key
    analyst = await shop.staff("analyst")
    me = (await client.get("/v1/admin/me", headers=analyst)).json()
    assert me["merchant"]["ingest_key"] is None
    assert "catalog.write" not in me["permissions"]
    r = await client.post(
        "/v1/admin/products", json={"name": "x", "price": 1, "stock": 1}, headers=analyst
    )
    assert_error(r, 403, "forbidden")
    r = await client.post(
        "/v1/admin/users",
        json={"email": "a@b.test", "password": "password1", "role": "owner"},
        headers=analyst,
    )
    assert_error(r, 403)
    r = await client.post(
        "/v1/admin/users",
        json={"email": "OWNER-dup@b.test", "password": "password1", "role": "support"},
        headers=shop.admin,
    )
    assert r.status_code == 201 and r.json()["email"] == "owner-dup@b.test"
    r = await client.post(
        "/v1/admin/users",
        json={"email": "owner-dup@B.test", "password": "password1", "role": "support"},
        headers=shop.admin,
    )
    assert_error(r, 409, "email_taken")
