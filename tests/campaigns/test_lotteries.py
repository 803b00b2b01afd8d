"""Lotteries through the API: free draws per local day, then points; prizes landing with the
member; a prize never given beyond its stock, whatever arrives at once; refusals that write
nothing."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.lotteries import pool
from growthloop.campaigns.lotteries import repository as lottery_repo
from growthloop.campaigns.lotteries.events import LotteryDrew
from growthloop.campaigns.lotteries.models import (
    Lottery,
    LotteryDraw,
    LotteryDrawDay,
    LotteryMember,
    LotteryPrize,
)
from growthloop.core.audit import AuditEntry
from growthloop.core.clock import FrozenClock
from growthloop.core.events import DomainEvent
from growthloop.core.runtime import Runtime
from growthloop.loyalty.models import LedgerEntry, MemberLoyalty, PointsBatch
from growthloop.promotions.models import Coupon
from tests.campaigns.support import bulk_members
from tests.conftest import START, Stack
from tests.helpers import Shop, assert_error, make_shop, two_processes
from tests.mall.support import balance, earn, ledger, ledger_balanced, member_id, program

_seq = itertools.count(1)

NONE = {"name": "谢谢参与", "kind": "none", "weight": 1}


def points_prize(points: int = 30, stock: int = 10, weight: int = 1) -> dict[str, Any]:
    return {
        "name": f"{points} 积分",
        "kind": "points",
        "weight": weight,
        "stock": stock,
        "points": points,
    }


def coupon_prize(template_id: str, stock: int = 10, weight: int = 1) -> dict[str, Any]:
    return {
        "name": "满30减5券",
        "kind": "coupon",
        "weight": weight,
        "stock": stock,
        "template_id": template_id,
    }


def product_prize(product_id: str, stock: int = 10, weight: int = 1) -> dict[str, Any]:
    return {
        "name": "招牌奶茶一杯",
        "kind": "product",
        "weight": weight,
        "stock": stock,
        "product_id": product_id,
    }


async def _lottery(shop: Shop, prizes: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"幸运大转盘{next(_seq)}", "prizes": prizes, **overrides}
    r = await shop.client.post("/v1/admin/lotteries", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _template(shop: Shop, **overrides: Any) -> dict[str, Any]:
    """A coupon template to give as a prize: granted only, as a prize must be."""
    body = {
        "name": "满30减5",
        "kind": "amount_off",
        "value": 500,
        "min_spend": 3000,
        "obtain": "grant",
        **overrides,
    }
    r = await shop.client.post("/v1/admin/coupons", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _draw(shop: Shop, lottery_id: str, member: dict[str, str], **headers: str) -> Any:
    return shop.client.post(f"/v1/lotteries/{lottery_id}/draw", headers={**member, **headers})


async def _admin_view(shop: Shop, lottery_id: str) -> dict[str, Any]:
    r = await shop.client.get(f"/v1/admin/lotteries/{lottery_id}", headers=shop.admin)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _mine(shop: Shop, lottery_id: str, member: dict[str, str]) -> dict[str, Any]:
    r = await shop.client.get(f"/v1/lotteries/{lottery_id}", headers=member)
    assert r.status_code == 200, r.text
    return r.json()["mine"]  # type: ignore[no-any-return]


async def _my_draws(shop: Shop, member: dict[str, str]) -> list[dict[str, Any]]:
    r = await shop.client.get("/v1/me/lottery-draws", params={"limit": 100}, headers=member)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def _rows(s: AsyncSession, stmt: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(row) for row in await s.execute(stmt))


async def db_state(shop: Shop) -> dict[str, Any]:
    """Every row a draw or a lottery's creation could write for this merchant."""
    m = shop.merchant_id
    state: dict[str, Any] = {}
    async with shop.rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        state["prizes"] = await _rows(
            s, select(LotteryPrize.id, LotteryPrize.given).where(LotteryPrize.merchant_id == m)
        )
        days = LotteryDrawDay
        state["days"] = await _rows(
            s,
            select(days.member_id, days.draw_day, days.draws, days.free_draws).where(
                days.merchant_id == m
            ),
        )
        lm = LotteryMember
        state["members"] = await _rows(
            s, select(lm.member_id, lm.draws, lm.wins).where(lm.merchant_id == m)
        )
        state["accounts"] = await _rows(
            s,
            select(MemberLoyalty.member_id, MemberLoyalty.points).where(
                MemberLoyalty.merchant_id == m
            ),
        )
        state["batches"] = await _rows(
            s, select(PointsBatch.id, PointsBatch.remaining).where(PointsBatch.merchant_id == m)
        )
        for model in (Lottery, LotteryDraw, LedgerEntry, Coupon, AuditEntry):
            stmt = select(func.count()).select_from(model).where(model.merchant_id == m)
            state[model.__tablename__] = (await s.execute(stmt)).scalar_one()
    return state


async def _prize_draws(rt: Runtime, lottery_id: str) -> dict[str, int]:
    """Draws per prize, counted from the draw rows (the truth `given` must match)."""
    async with rt.db.unit_of_work(write=False) as uow:
        d = LotteryDraw
        stmt = select(d.prize_id, func.count()).where(d.lottery_id == lottery_id)
        rows = await uow.session.execute(stmt.group_by(d.prize_id))
        return {pid: int(n) for pid, n in rows}


class FirstCandidate(random.Random):
    """An RNG that always lands on the first prize still in the running: makes the draw's
    fallbacks (sold out, coupon refused, points not for this member) deterministic."""

    def randrange(self, *args: Any, **kwargs: Any) -> int:
        return 0


@pytest.fixture
def first_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "_rng", FirstCandidate())


# ---- the whole journey -------------------------------------------------------------------


async def test_free_draws_per_local_day_then_points(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    await earn(shop, member, 120)
    lot = await _lottery(
        shop,
        [points_prize(30, stock=10)],
        cost_points=50,
        free_draws_per_day=2,
        max_draws_per_day=5,
        rules="每天 2 次免费抽奖，之后每次 50 积分。",
    )
    assert (lot["status"], lot["exhausted"], lot["draws"]) == ("running", False, 0)
    assert [(p["weight"], p["stock"], p["given"], p["stock_left"]) for p in lot["prizes"]] == [
        (1, 10, 0, 10)
    ]
    # Visitors see the wheel and its odds, not the weights; members also see their day.
    r = await client.get(f"/v1/lotteries/{lot['id']}", params={"merchant_id": shop.merchant_id})
    seen = r.json()
    assert seen["mine"] is None and seen["rules"] == "每天 2 次免费抽奖，之后每次 50 积分。"
    assert "weight" not in seen["prizes"][0] and seen["prizes"][0]["odds"] == 1.0
    mine = await _mine(shop, lot["id"], member)
    assert (mine["free_draws_left"], mine["draws_left"], mine["points_balance"]) == (2, 5, 120)
    assert (mine["can_draw"], mine["cannot_draw"], mine["day"]) == (True, None, "2026-03-02")

    draws = []
    for free, paid, free_left, draws_left in ((True, 0, 1, 4), (True, 0, 0, 3), (False, 50, 0, 2)):
        r = await _draw(shop, lot["id"], member)
        assert r.status_code == 201, r.text
        d = r.json()
        assert (d["free_draw"], d["paid_points"]) == (free, paid)
        assert (d["free_draws_left"], d["draws_left"]) == (free_left, draws_left)
        assert (d["prize"]["kind"], d["points"], d["won"], d["day"]) == (
            "points",
            30,
            True,
            "2026-03-02",
        )
        assert d["lottery_name"] == lot["name"] and d["voucher"] is None
        draws.append(d)
    assert await balance(client, member) == 120 + 3 * 30 - 50
    lottery_entries = [
        (e["reason"], e["delta"], e["ref"])
        for e in await ledger(client, member)
        if e["reason"].startswith("lottery")
    ]
    assert lottery_entries == [
        ("lottery_prize", 30, draws[2]["id"]),
        ("lottery_draw", -50, draws[2]["id"]),
        ("lottery_prize", 30, draws[1]["id"]),
        ("lottery_prize", 30, draws[0]["id"]),
    ]
    for _ in range(2):
        assert (await _draw(shop, lot["id"], member)).status_code == 201
    assert await balance(client, member) == 120 + 5 * 30 - 3 * 50

    # The daily cap: refused, and nothing written (no points, no unit, no count).
    before = await db_state(shop)
    err = assert_error(await _draw(shop, lot["id"], member), 409, "daily_draw_limit")
    assert err["details"]["max_draws_per_day"] == 5
    assert await db_state(shop) == before
    mine = await _mine(shop, lot["id"], member)
    assert (mine["can_draw"], mine["cannot_draw"], mine["draws_today"]) == (
        False,
        "daily_draw_limit",
        5,
    )
    # 23:59 in Shanghai is still the same day; 00:01 is the next, though UTC has not
    # reached midnight: the free draws come back.
    clock.set(START.replace(hour=15, minute=59))
    assert_error(await _draw(shop, lot["id"], member), 409, "daily_draw_limit")
    clock.set(START.replace(hour=16, minute=1))
    r = await _draw(shop, lot["id"], member)
    assert r.status_code == 201, r.text
    assert (r.json()["free_draw"], r.json()["day"], r.json()["free_draws_left"]) == (
        True,
        "2026-03-03",
        1,
    )

    await shop.relogin()  # the admin token of the morning has expired
    view = await _admin_view(shop, lot["id"])
    assert [(p["given"], p["stock_left"]) for p in view["prizes"]] == [(6, 4)]
    assert (view["draws"], view["free_draws"], view["points_collected"]) == (6, 3, 150)
    assert view["participants"] == 1
    assert await _prize_draws(rt, lot["id"]) == {view["prizes"][0]["id"]: 6}

    # The member's history, newest first, in pages.
    r = await client.get("/v1/me/lottery-draws", params={"limit": 4}, headers=member)
    page = r.json()
    assert len(page["items"]) == 4 and page["next_cursor"]
    r = await client.get(
        "/v1/me/lottery-draws", params={"limit": 4, "cursor": page["next_cursor"]}, headers=member
    )
    rest = r.json()
    assert rest["next_cursor"] is None
    ids = [d["id"] for d in page["items"] + rest["items"]]
    assert ids[-3:] == [d["id"] for d in reversed(draws)] and ids == sorted(ids, reverse=True)
    await ledger_balanced(shop)


async def test_coupon_and_product_prizes_land_with_the_member(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    template = await _template(shop, per_member_limit=5)
    lot = await _lottery(shop, [coupon_prize(template["id"], stock=3)], free_draws_per_day=5)
    r = await _draw(shop, lot["id"], member)
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["prize"]["kind"] == "coupon" and d["coupon_id"] and d["points"] is None
    r = await client.get("/v1/me/coupons", headers=member)
    wallet = {c["id"]: c for c in r.json()["items"]}
    assert wallet[d["coupon_id"]]["template_id"] == template["id"]
    assert wallet[d["coupon_id"]]["source"] == "campaign"

    # A product prize: a voucher for the counter, redeemed once by staff, before it expires.
    product = await shop.product(name="招牌奶茶")
    tea = await _lottery(
        shop, [product_prize(product["id"], stock=2)], voucher_valid_days=7, free_draws_per_day=3
    )
    first = (await _draw(shop, tea["id"], member)).json()
    voucher = first["voucher"]
    assert len(voucher["code"]) == 12 and voucher["code"].isdigit()
    assert voucher["product_id"] == product["id"] and voucher["redeemed_at"] is None
    assert voucher["expires_at"].startswith("2026-03-09T02:00")
    other = await make_shop(client, rt, "别家")
    path = "/v1/admin/lottery-vouchers/verify"
    r = await client.post(path, json={"code": voucher["code"]}, headers=other.admin)
    assert_error(r, 404, "lottery_voucher_not_found")
    analyst = await shop.staff("analyst")
    r = await client.post(path, json={"code": voucher["code"]}, headers=analyst)
    assert_error(r, 403, "forbidden")
    staff = await shop.staff("support")
    r = await client.post(path, json={"code": voucher["code"]}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["voucher"]["redeemed_at"] is not None
    assert r.json()["member_id"] == await member_id(client, member)
    assert_error(
        await client.post(path, json={"code": voucher["code"]}, headers=staff),
        409,
        "voucher_already_used",
    )
    mine = {x["id"]: x for x in await _my_draws(shop, member)}
    assert mine[first["id"]]["voucher"]["redeemed_at"] is not None

    second = (await _draw(shop, tea["id"], member)).json()
    assert second["voucher"]["code"] != voucher["code"]
    # Both units are gone: without a `none` prize the wheel stops, charging nothing.
    before = await db_state(shop)
    assert_error(await _draw(shop, tea["id"], member), 409, "prizes_exhausted")
    assert await db_state(shop) == before
    r = await client.get(f"/v1/lotteries/{tea['id']}", headers=member)
    assert r.json()["exhausted"] is True and r.json()["mine"]["cannot_draw"] == "prizes_exhausted"
    assert r.json()["prizes"][0]["odds"] == 0.0

    clock.advance(days=7)
    await shop.relogin()
    staff = await shop.staff("support")
    r = await client.post(path, json={"code": second["voucher"]["code"]}, headers=staff)
    assert_error(r, 409, "voucher_expired")
    for bad in ("12345", "abcdefghijkl", 123456789012):
        assert_error(await client.post(path, json={"code": bad}, headers=staff), 422)

    # The operator's winners list.
    r = await client.get(
        f"/v1/admin/lotteries/{tea['id']}/draws", params={"won": "true"}, headers=shop.admin
    )
    assert [x["id"] for x in r.json()["items"]] == [second["id"], first["id"]]
    r = await client.get(
        f"/v1/admin/lotteries/{tea['id']}/draws", params={"won": "false"}, headers=shop.admin
    )
    assert r.json()["items"] == []


async def test_a_prize_the_member_cannot_receive_leaves_their_pool(
    client: httpx.AsyncClient, rt: Runtime, first_candidate: None
) -> None:
    """A coupon the member may not get any more, or points for a member outside the
    programme, is left out of that member's draw: the `none` prize comes instead, and the
    prize's unit stays in stock."""
    shop = await make_shop(client, rt)
    template = await _template(shop, per_member_limit=1)
    lot = await _lottery(
        shop,
        [coupon_prize(template["id"], stock=5), points_prize(20, stock=5), NONE],
        free_draws_per_day=3,
    )
    joined = await shop.member()
    r1, r2, r3 = [(await _draw(shop, lot["id"], joined)).json() for _ in range(3)]
    assert r1["prize"]["kind"] == "coupon"
    assert r2["prize"]["kind"] == "points" and r2["points"] == 20  # the coupon's limit is met
    assert r3["prize"]["kind"] == "points"
    outsider = await shop.member(join=False)  # no membership consent: no points for them
    r = (await _draw(shop, lot["id"], outsider)).json()
    assert r["prize"]["kind"] == "coupon"
    r = (await _draw(shop, lot["id"], outsider)).json()
    assert (r["prize"]["kind"], r["won"], r["coupon_id"], r["points"]) == (
        "none",
        False,
        None,
        None,
    )
    view = await _admin_view(shop, lot["id"])
    assert [(p["kind"], p["given"]) for p in view["prizes"]] == [
        ("coupon", 2),
        ("points", 2),
        ("none", 1),
    ]
    async with rt.db.unit_of_work(write=False) as uow:
        stmt = (
            select(func.count()).select_from(Coupon).where(Coupon.merchant_id == shop.merchant_id)
        )
        assert (await uow.session.execute(stmt)).scalar_one() == 2
    assert await balance(client, outsider) == 0


async def test_a_prize_sold_out_under_the_draw_is_drawn_again(
    client: httpx.AsyncClient, rt: Runtime, first_candidate: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool is read, then another draw takes the chosen prize's last unit: the guarded
    update finds nothing left and the draw chooses again among the rest."""
    shop = await make_shop(client, rt)
    product = await shop.product()
    lot = await _lottery(
        shop,
        [product_prize(product["id"], stock=3), points_prize(10, stock=3)],
        free_draws_per_day=2,
    )
    first_id = lot["prizes"][0]["id"]
    take = lottery_repo.take_prize

    async def sold_out_first(session: AsyncSession, prize_id: str) -> bool:
        if prize_id == first_id:  # a concurrent draw takes every unit just before this one
            await session.execute(
                update(LotteryPrize)
                .where(LotteryPrize.id == prize_id)
                .values(given=LotteryPrize.stock)
            )
        return await take(session, prize_id)

    monkeypatch.setattr(lottery_repo, "take_prize", sold_out_first)
    member = await shop.member()
    r = await _draw(shop, lot["id"], member)
    assert r.status_code == 201, r.text
    assert r.json()["prize"]["id"] == lot["prizes"][1]["id"]
    view = await _admin_view(shop, lot["id"])
    assert [(p["given"], p["stock_left"]) for p in view["prizes"]] == [(3, 0), (1, 2)]
    assert [p["odds"] for p in view["prizes"]] == [0.0, 1.0]


async def test_one_draw_per_idempotency_key(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    lot = await _lottery(shop, [points_prize(5), NONE], free_draws_per_day=3)
    first = await _draw(shop, lot["id"], member, **{"Idempotency-Key": "draw-1"})
    again = await _draw(shop, lot["id"], member, **{"Idempotency-Key": "draw-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert [d["id"] for d in await _my_draws(shop, member)] == [first.json()["id"]]
    assert (await _mine(shop, lot["id"], member))["free_draws_left"] == 2


async def test_drew_event(client: httpx.AsyncClient, rt: Runtime) -> None:
    seen: list[DomainEvent] = []

    async def record(session: AsyncSession, event: DomainEvent) -> None:
        seen.append(event)

    rt.bus.on(LotteryDrew, record)
    try:
        shop = await make_shop(client, rt)
        member = await shop.member()
        lot = await _lottery(shop, [points_prize(7, stock=1)], free_draws_per_day=2)
        d = (await _draw(shop, lot["id"], member)).json()
        assert_error(await _draw(shop, lot["id"], member), 409, "prizes_exhausted")  # no event
    finally:
        rt.bus.off(LotteryDrew, record)
    assert [(e.name, e.member_id, e.merchant_id) for e in seen] == [
        ("lottery.drew", await member_id(client, member), shop.merchant_id)
    ]
    assert seen[0].payload == {
        "draw_id": d["id"],
        "lottery_id": lot["id"],
        "prize_id": lot["prizes"][0]["id"],
        "prize_kind": "points",
        "prize_name": "7 积分",
        "won": True,
        "free_draw": True,
        "paid_points": 0,
        "coupon_id": None,
        "points": 7,
    }


# ---- concurrency -------------------------------------------------------------------------


async def test_sixty_members_at_once_for_five_prizes(
    client: httpx.AsyncClient, rt: Runtime, stack: Stack
) -> None:
    """The only real prize (ten times the weight of 谢谢参与) has 5 units: exactly 5 are
    given, each with its coupon, whatever arrives at once, from two API processes."""
    shop = await make_shop(client, rt)
    template = await _template(shop)
    lot = await _lottery(
        shop, [coupon_prize(template["id"], stock=5, weight=10), NONE], free_draws_per_day=1
    )
    members = await bulk_members(shop, 60)
    async with two_processes(client, rt, stack.clock) as clients:
        responses = await asyncio.gather(
            *(
                clients[i % 2].post(f"/v1/lotteries/{lot['id']}/draw", headers=m)
                for i, m in enumerate(members)
            )
        )

    assert Counter(r.status_code for r in responses) == {201: 60}, [
        r.text for r in responses if r.status_code != 201
    ]
    kinds = Counter(r.json()["prize"]["kind"] for r in responses)
    assert kinds == {"coupon": 5, "none": 55}
    view = await _admin_view(shop, lot["id"])
    coupon, none = view["prizes"]
    assert (coupon["given"], coupon["stock_left"], none["given"]) == (5, 0, 55)
    assert view["exhausted"] is True and view["draws"] == 60 and view["participants"] == 60
    assert await _prize_draws(rt, lot["id"]) == {coupon["id"]: 5, none["id"]: 55}
    coupon_ids = {r.json()["coupon_id"] for r in responses if r.json()["won"]}
    async with rt.db.unit_of_work(write=False) as uow:
        stmt = select(Coupon.id).where(Coupon.merchant_id == shop.merchant_id)
        assert set((await uow.session.execute(stmt)).scalars()) == coupon_ids
    assert len(coupon_ids) == 5


async def test_without_a_none_prize_the_rest_are_refused_and_charged_nothing(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product()
    lot = await _lottery(shop, [product_prize(product["id"], stock=5)], free_draws_per_day=1)
    members = await bulk_members(shop, 20)
    responses = await asyncio.gather(*(_draw(shop, lot["id"], m) for m in members))
    assert Counter(r.status_code for r in responses) == {201: 5, 409: 15}
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "prizes_exhausted")
    codes = {r.json()["voucher"]["code"] for r in responses if r.status_code == 201}
    assert len(codes) == 5
    state = await db_state(shop)
    assert len(state["days"]) == 5 and state["lottery_draws"] == 5  # the refused left no count
    assert state["prizes"] == [(lot["prizes"][0]["id"], 5)]


async def test_one_member_fires_ten_draws(client: httpx.AsyncClient, rt: Runtime) -> None:
    """Two free draws, then points, five draws a day: ten at once make exactly five, the
    first two free and three paid, and the ledger holds exactly three spends."""
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    await earn(shop, member, 100)
    lot = await _lottery(
        shop,
        [points_prize(5, stock=100), NONE],
        cost_points=10,
        free_draws_per_day=2,
        max_draws_per_day=5,
    )
    responses = await asyncio.gather(*(_draw(shop, lot["id"], member) for _ in range(10)))
    ok = [r.json() for r in responses if r.status_code == 201]
    assert len(ok) == 5, Counter(r.status_code for r in responses)
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "daily_draw_limit")
    assert sorted(d["paid_points"] for d in ok) == [0, 0, 10, 10, 10]
    spends = [e["delta"] for e in await ledger(client, member) if e["reason"] == "lottery_draw"]
    assert spends == [-10, -10, -10]
    won = sum(d["points"] or 0 for d in ok)
    assert await balance(client, member) == 100 - 30 + won
    state = await db_state(shop)
    assert [(draws, free) for _, _, draws, free in state["days"]] == [(5, 2)]
    await ledger_balanced(shop)


async def test_one_member_in_two_lotteries_at_once(client: httpx.AsyncClient, rt: Runtime) -> None:
    """Free draws crediting points and paid draws spending them, on one balance at once:
    every draw lands or is refused whole, and the ledger adds up."""
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    await earn(shop, member, 60)
    free = await _lottery(shop, [points_prize(7, stock=100)], free_draws_per_day=6)
    paid = await _lottery(shop, [points_prize(1, stock=100)], cost_points=20, free_draws_per_day=0)
    responses = await asyncio.gather(
        *(_draw(shop, lot["id"], member) for _ in range(6) for lot in (free, paid))
    )
    ok = [r.json() for r in responses if r.status_code == 201]
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "insufficient_points")
    won_free = [d for d in ok if d["lottery_id"] == free["id"]]
    won_paid = [d for d in ok if d["lottery_id"] == paid["id"]]
    assert len(won_free) == 6 and len(won_paid) >= 3  # 60 points pay for three at least
    assert await balance(client, member) == 60 + 6 * 7 + len(won_paid) * (1 - 20)
    assert await balance(client, member) >= 0
    await ledger_balanced(shop)


# ---- refusals ------------------------------------------------------------------------------


async def test_bad_input_writes_nothing(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    template = await _template(shop)
    product = await shop.product()
    now = rt.clock.now()
    good = [coupon_prize(template["id"]), NONE]
    before = await db_state(shop)
    invalid: list[dict[str, Any]] = [
        {"prizes": [{**coupon_prize(template["id"]), "weight": 0}]},
        {"prizes": [{**coupon_prize(template["id"]), "weight": -3}]},
        {"prizes": [{**coupon_prize(template["id"]), "weight": 1.5}]},
        {"prizes": [{**coupon_prize(template["id"]), "weight": "2"}]},
        {"prizes": [{**coupon_prize(template["id"]), "stock": 0}]},
        {"prizes": [{**coupon_prize(template["id"]), "stock": None}]},  # a prize without stock
        {"prizes": [{**points_prize(), "points": 10.5}]},
        {"prizes": [{**points_prize(), "points": 0}]},
        {"prizes": [{**points_prize(), "points": None}]},
        {"prizes": [{**points_prize(), "template_id": template["id"]}]},
        {"prizes": [{**product_prize(product["id"]), "product_id": None}]},
        {"prizes": [{**NONE, "stock": 5}, points_prize()]},
        {"prizes": [{**coupon_prize(template["id"]), "template_id": "not-an-id"}]},
        {"prizes": [{**coupon_prize(template["id"]), "kind": "cash"}]},
        {"prizes": [{**coupon_prize(template["id"]), "extra": 1}]},
        {"prizes": [NONE]},  # nothing to win
        {"prizes": [NONE, dict(NONE), points_prize()]},
        {"prizes": []},
        {"prizes": [points_prize() for _ in range(21)]},
        {"cost_points": 10.0},
        {"cost_points": -1},
        {"free_draws_per_day": 0},  # and no points price: no way to draw
        {"free_draws_per_day": 3, "max_draws_per_day": 2},
        {"max_wins_per_member": 0},
        {"voucher_valid_days": 0},
        {
            "starts_at": (now + timedelta(hours=2)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        },
        {"starts_at": "2026-03-02T10:00:00"},  # no offset
        {"name": ""},
        {"unknown": True},
    ]
    for bad in invalid:
        body = {"name": "大转盘", "prizes": good, **bad}
        r = await client.post("/v1/admin/lotteries", json=body, headers=shop.admin)
        assert_error(r, 422)
    r = await client.post(
        "/v1/admin/lotteries",
        json={"name": "x", "prizes": good, "ends_at": (now - timedelta(minutes=1)).isoformat()},
        headers=shop.admin,
    )
    assert_error(r, 422, "invalid_campaign")

    # What a prize gives must be this merchant's (422 naming the prize's field and the id,
    # whether the id is another merchant's or nobody's), a template granted only and
    # issuing.
    other = await make_shop(client, rt, "别家")
    their_template = await _template(other)
    their_product = await other.product()
    unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    for prizes, code, field, wrong in (
        ([coupon_prize(unknown)], "unknown_coupon_template", "prizes[0].template_id", unknown),
        (
            [NONE, coupon_prize(their_template["id"])],
            "unknown_coupon_template",
            "prizes[1].template_id",
            their_template["id"],
        ),
        ([product_prize(unknown)], "unknown_product", "prizes[0].product_id", unknown),
        (
            [coupon_prize(template["id"]), product_prize(their_product["id"])],
            "unknown_product",
            "prizes[1].product_id",
            their_product["id"],
        ),
    ):
        r = await client.post(
            "/v1/admin/lotteries", json={"name": "x", "prizes": prizes}, headers=shop.admin
        )
        error = assert_error(r, 422, code)
        assert error["details"] == {"field": field, "id": wrong, "ids": [wrong]}
        assert error["message"].startswith(f"{field}: {wrong} ")
    claimable = await _template(shop, obtain="claim")
    r = await client.post(
        "/v1/admin/lotteries",
        json={"name": "x", "prizes": [coupon_prize(claimable["id"])]},
        headers=shop.admin,
    )
    error = assert_error(r, 422, "coupon_template_claimable")
    assert error["details"] == {"field": "prizes[0].template_id", "template_id": claimable["id"]}
    before = await db_state(shop)  # the claimable template is new
    r = await client.patch(
        f"/v1/admin/coupons/{template['id']}", json={"active": False}, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    before = {**before, "audit_log": before["audit_log"] + 1}  # the template's deactivation
    r = await client.post(
        "/v1/admin/lotteries", json={"name": "x", "prizes": good}, headers=shop.admin
    )
    assert_error(r, 422, "invalid_campaign")
    after = await db_state(shop)
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    assert after["lotteries"] == 0
    analyst = await shop.staff("analyst")
    r = await client.post(
        "/v1/admin/lotteries", json={"name": "x", "prizes": [points_prize()]}, headers=analyst
    )
    assert_error(r, 403, "forbidden")


async def test_wrong_states_write_nothing(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    now = clock.now()

    later = await _lottery(shop, [points_prize()], starts_at=(now + timedelta(hours=1)).isoformat())
    before = await db_state(shop)
    err = assert_error(await _draw(shop, later["id"], member), 409, "not_started")
    assert err["details"]["next_open_at"].startswith("2026-03-02T03:00")
    assert (await _mine(shop, later["id"], member))["cannot_draw"] == "not_started"

    # Points only, and the member has none: refused by the loyalty ledger.
    paid = await _lottery(shop, [points_prize()], cost_points=100, free_draws_per_day=0)
    before = await db_state(shop)
    assert_error(await _draw(shop, paid["id"], member), 409, "insufficient_points")
    assert await db_state(shop) == before
    assert (await _mine(shop, paid["id"], member))["cannot_draw"] == "insufficient_points"

    # Free draws only, and today's are used.
    free = await _lottery(shop, [points_prize(), NONE], free_draws_per_day=1)
    assert (await _draw(shop, free["id"], member)).status_code == 201
    before = await db_state(shop)
    assert_error(await _draw(shop, free["id"], member), 409, "no_free_draws_left")
    assert await db_state(shop) == before
    assert (await _mine(shop, free["id"], member))["cannot_draw"] == "no_free_draws_left"

    # One prize per member.
    once = await _lottery(shop, [points_prize()], free_draws_per_day=5, max_wins_per_member=1)
    assert (await _draw(shop, once["id"], member)).status_code == 201
    before = await db_state(shop)
    assert_error(await _draw(shop, once["id"], member), 409, "win_limit_reached")
    assert await db_state(shop) == before
    mine = await _mine(shop, once["id"], member)
    assert (mine["wins"], mine["cannot_draw"]) == (1, "win_limit_reached")

    # Ended early by the operator, or past its end.
    r = await client.post(f"/v1/admin/lotteries/{free['id']}/end", headers=shop.admin)
    assert r.status_code == 200 and r.json()["status"] == "ended" and r.json()["ended_early_at"]
    assert_error(
        await client.post(f"/v1/admin/lotteries/{free['id']}/end", headers=shop.admin),
        409,
        "lottery_ended",
    )
    short = await _lottery(
        shop, [points_prize()], ends_at=(now + timedelta(minutes=30)).isoformat()
    )
    clock.advance(minutes=31)
    before = await db_state(shop)
    for lot in (free, short):
        assert_error(await _draw(shop, lot["id"], member), 409, "ended")
        assert (await _mine(shop, lot["id"], member))["cannot_draw"] == "ended"
    assert await db_state(shop) == before

    assert_error(
        await client.post("/v1/lotteries/01ARZ3NDEKTSV4RRFFQ69G5FAV/draw", headers=member),
        404,
        "lottery_not_found",
    )
    r = await client.get("/v1/admin/lotteries", headers=shop.admin)
    assert {x["id"] for x in r.json()["items"]} == {
        later["id"],
        paid["id"],
        free["id"],
        once["id"],
        short["id"],
    }


async def test_another_merchants_lottery_is_refused(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    lot = await _lottery(shop, [points_prize(), NONE], free_draws_per_day=3)
    other = await make_shop(client, rt, "别家")
    stranger = await other.member()
    before = await db_state(shop)
    assert_error(await _draw(shop, lot["id"], stranger), 403, "forbidden")
    assert_error(await client.get(f"/v1/lotteries/{lot['id']}", headers=stranger), 403)
    r = await client.get(f"/v1/lotteries/{lot['id']}", params={"merchant_id": other.merchant_id})
    assert_error(r, 403, "forbidden")
    for method, path in (
        ("GET", f"/v1/admin/lotteries/{lot['id']}"),
        ("POST", f"/v1/admin/lotteries/{lot['id']}/end"),
        ("GET", f"/v1/admin/lotteries/{lot['id']}/draws"),
    ):
        assert_error(await client.request(method, path, headers=other.admin), 403, "forbidden")
    assert await db_state(shop) == before
    r = await client.get("/v1/admin/lotteries", headers=other.admin)
    assert r.json()["items"] == []
    assert await _my_draws(other, stranger) == []


# ---- the pool, exactly ------------------------------------------------------------------


class Sweep(random.Random):
    """Hands out every point of [0, total) once: `pick` then returns each entry exactly
    as often as its weight."""

    def __init__(self) -> None:
        super().__init__()
        self.next = 0

    def randrange(self, *args: Any, **kwargs: Any) -> int:
        value, self.next = self.next, self.next + 1
        return value


def test_pick_is_exactly_proportional_to_weight() -> None:
    entries = [("a", 1), ("b", 3), ("c", 6)]
    rng = Sweep()
    assert Counter(pool.pick(entries, rng) for _ in range(10)) == {"a": 1, "b": 3, "c": 6}
    assert pool.odds([1, 3, 6]) == [0.1, 0.3, 0.6]
    assert pool.odds([1, 0, 2]) == [0.333333, 0.0, 0.666667]
    assert pool.odds([0, 0]) == [0.0, 0.0]
    seeded = random.Random(7)
    counts = Counter(pool.pick(entries, seeded) for _ in range(20_000))
    for value, weight in entries:
        assert abs(counts[value] / 20_000 - weight / 10) < 0.02
    with pytest.raises(ValueError):
        pool.pick([])
    with pytest.raises(ValueError):
        pool.pick([("a", 0)])
