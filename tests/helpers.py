"""Typed helpers that drive the API the way a client does."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import event

from growthloop.app import create_app
from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.runtime import Runtime
from growthloop.identity import service as identity
from growthloop.wiring import build_runtime

_seq = itertools.count(1)

TEA_OPTIONS = [
    {"name": "糖度", "values": ["七分糖", "无糖", "三分糖", "五分糖", "全糖"]},
    {"name": "温度", "values": ["少冰", "去冰", "热"]},
    {"name": "杯型", "values": ["中杯", "大杯"], "price_deltas": {"大杯": 300}},
]


@contextmanager
def statements_run(db: Database) -> Iterator[list[str]]:
    """The SQL the database runs inside the block, through every engine it has (on SQLite
    a request's statements go through a second, inline engine)."""
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    for engine in db.engines:
        event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        for engine in db.engines:
            event.remove(engine.sync_engine, "before_cursor_execute", seen)


@asynccontextmanager
async def two_processes(
    client: httpx.AsyncClient, rt: Runtime, clock: Clock
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`client` and a second API process on the same database, with a runtime of its own
    (pools, caches, counters), as behind a load balancer; the second is closed after."""
    other_rt = build_runtime(rt.settings, clock)
    app = create_app(rt.settings, runtime=other_rt, run_sweeper=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as other:
            yield [client, other]
    finally:
        await other_rt.counters.close()
        await other_rt.stock.close()
        await other_rt.db.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


@dataclass
class Shop:
    client: httpx.AsyncClient
    rt: Runtime
    merchant_id: str
    admin_token: str
    ingest_key: str
    members: dict[str, str] = field(default_factory=dict)
    owner_email: str = ""

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.admin_token)

    async def relogin(self) -> None:
        """A fresh owner token, for tests that move the clock past the token's lifetime."""
        r = await self.client.post(
            "/v1/admin/login", json={"email": self.owner_email, "password": "owner-password"}
        )
        assert r.status_code == 200, r.text
        self.admin_token = r.json()["token"]

    async def product(self, **overrides: Any) -> dict[str, Any]:
        body = {"name": f"奶茶{next(_seq)}", "price": 1500, "stock": 100, "options": TEA_OPTIONS}
        body.update(overrides)
        r = await self.client.post("/v1/admin/products", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def member(self, code: str | None = None, *, join: bool = True) -> dict[str, str]:
        """Log a member in; `join` records their consent to the membership programme (most
        members tick it; without it they earn no points and get no tier)."""
        code = code or f"user-{next(_seq)}"
        r = await self.client.post(
            "/v1/auth/login",
            json={"merchant_id": self.merchant_id, "platform": "dev", "code": code},
        )
        assert r.status_code == 200, r.text
        self.members[code] = r.json()["token"]
        headers = bearer(r.json()["token"])
        if join and r.json()["is_new"]:
            r = await self.client.put("/v1/me/consents", json={"membership": True}, headers=headers)
            assert r.status_code == 200, r.text
        return headers

    async def order(
        self, member: dict[str, str], product_id: str, quantity: int = 1, **extra: Any
    ) -> httpx.Response:
        body = {"items": [{"product_id": product_id, "quantity": quantity}], **extra}
        return await self.client.post("/v1/orders", json=body, headers=member)

    async def paid_order(
        self, member: dict[str, str], product_id: str, quantity: int = 1
    ) -> dict[str, Any]:
        r = await self.order(member, product_id, quantity)
        assert r.status_code == 201, r.text
        order = r.json()
        await self.pay(member, order["id"])
        r = await self.client.get(f"/v1/orders/{order['id']}", headers=member)
        assert r.json()["status"] == "paid", r.text
        return r.json()  # type: ignore[no-any-return]

    async def pay(self, member: dict[str, str], order_id: str) -> str:
        r = await self.client.post(
            f"/v1/orders/{order_id}/pay", json={"provider": "sandbox"}, headers=member
        )
        assert r.status_code == 200, r.text
        payment_id: str = r.json()["payment_id"]
        r = await self.client.post(f"/v1/payments/sandbox/{payment_id}/succeed")
        assert r.status_code == 200, r.text
        return payment_id

    async def staff(self, role: str) -> dict[str, str]:
        email = f"{role}{next(_seq)}@shop.test"
        r = await self.client.post(
            "/v1/admin/users",
            json={"email": email, "password": "staff-password", "role": role},
            headers=self.admin,
        )
        assert r.status_code == 201, r.text
        r = await self.client.post(
            "/v1/admin/login", json={"email": email, "password": "staff-password"}
        )
        assert r.status_code == 200, r.text
        return bearer(r.json()["token"])


async def make_shop(client: httpx.AsyncClient, rt: Runtime, name: str = "茶饮店") -> Shop:
    n = next(_seq)
    email = f"owner{n}@shop.test"
    async with rt.db.unit_of_work() as uow:
        merchant, _ = await identity.create_merchant(
            uow.session, f"{name}{n}", email, "owner-password", rt.clock.now()
        )
        merchant_id, ingest_key = merchant.id, merchant.ingest_key
    r = await client.post("/v1/admin/login", json={"email": email, "password": "owner-password"})
    assert r.status_code == 200, r.text
    return Shop(client, rt, merchant_id, r.json()["token"], ingest_key, owner_email=email)
