"""Helpers for the alliance tests: two merchants in partnership, members known to both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from growthloop.alliance.models import DailyUsage, Exchange, MemberDailyUsage, SettlementEntry
from growthloop.core.runtime import Runtime
from growthloop.loyalty import service as loyalty
from growthloop.loyalty.models import LedgerEntry
from tests.helpers import Shop, make_shop

PARTNERSHIPS = "/v1/admin/alliance/partnerships"
EXCHANGES = "/v1/me/alliance/exchanges"


@dataclass
class Person:
    """One person with an account at each of two merchants."""

    a: dict[str, str]  # member headers at merchant A
    b: dict[str, str]
    a_id: str
    b_id: str


async def member_id(client: httpx.AsyncClient, member: dict[str, str]) -> str:
    r = await client.get("/v1/me", headers=member)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def terms(partner: Shop, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "partner_merchant_id": partner.merchant_id,
        "rate": {"points": 10, "partner_points": 3},
        "daily_cap": 100_000,
        "settlement_price": {"fen": 5, "points": 100},
    }
    body.update(overrides)
    return body


async def propose(a: Shop, b: Shop, **overrides: Any) -> dict[str, Any]:
    r = await a.client.post(PARTNERSHIPS, json=terms(b, **overrides), headers=a.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def accept(b: Shop, partnership_id: str) -> dict[str, Any]:
    r = await b.client.post(f"{PARTNERSHIPS}/{partnership_id}/accept", headers=b.admin)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def alliance(
    client: httpx.AsyncClient, rt: Runtime, **overrides: Any
) -> tuple[Shop, Shop, dict[str, Any]]:
    """Merchants A and B with an active partnership proposed by A."""
    a = await make_shop(client, rt, "甲茶饮")
    b = await make_shop(client, rt, "乙书店")
    partnership = await propose(a, b, **overrides)
    return a, b, await accept(b, partnership["id"])


async def by_unionid(a: Shop, b: Shop, name: str) -> Person:
    """Different login codes at each merchant, one unionid (dev code "<id>|<unionid>")."""
    ma = await a.member(f"{name}-at-a|union-{name}")
    mb = await b.member(f"{name}-at-b|union-{name}")
    return Person(ma, mb, await member_id(a.client, ma), await member_id(b.client, mb))


async def verify_phone(client: httpx.AsyncClient, member: dict[str, str], code: str) -> str:
    r = await client.post("/v1/me/phone", json={"code": code}, headers=member)
    assert r.status_code == 200, r.text
    return str(r.json()["phone"])


async def by_phone(a: Shop, b: Shop, name: str, phone: str) -> Person:
    """No shared unionid: the same verified phone, spelled differently at each end."""
    ma, mb = await a.member(f"{name}-a"), await b.member(f"{name}-b")
    await verify_phone(a.client, ma, "+86 " + phone)
    await verify_phone(b.client, mb, phone)
    return Person(ma, mb, await member_id(a.client, ma), await member_id(b.client, mb))


async def give_points(rt: Runtime, shop: Shop, member: str, points: int, key: str) -> None:
    async with rt.db.unit_of_work() as uow:
        await loyalty.grant_points(
            uow.session, shop.merchant_id, member, points, reason="gift", key=key, ref=None
        )


async def points(client: httpx.AsyncClient, member: dict[str, str]) -> int:
    """The balance, after checking that it equals the sum of the member's ledger."""
    r = await client.get("/v1/me/membership", headers=member)
    assert r.status_code == 200, r.text
    balance = int(r.json()["points"])
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/me/points/ledger", params=params, headers=member)).json()
        total += sum(e["delta"] for e in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert balance == total, (balance, total)
    return balance


async def exchange(
    client: httpx.AsyncClient, member: dict[str, str], partnership_id: str, n: int, **headers: str
) -> httpx.Response:
    body = {"partnership_id": partnership_id, "points": n}
    return await client.post(EXCHANGES, json=body, headers={**member, **headers})


async def counts(rt: Runtime) -> dict[str, int]:
    """Rows an exchange writes, on both sides: a refused one must leave these unchanged."""
    out = {}
    async with rt.db.unit_of_work(write=False) as uow:
        for model in (LedgerEntry, Exchange, SettlementEntry, DailyUsage, MemberDailyUsage):
            stmt = select(func.count()).select_from(model)
            out[model.__tablename__] = int((await uow.session.execute(stmt)).scalar_one())
        stmt = select(func.coalesce(func.sum(DailyUsage.points), 0))
        out["cap_used"] = int((await uow.session.execute(stmt)).scalar_one())
    return out
