"""Parallel exchanges: the daily caps and the balance hold exactly, and opposite exchanges of
one person do not deadlock."""

from __future__ import annotations

import asyncio

import httpx

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.alliance.support import alliance, by_unionid, counts, exchange, give_points, points
from tests.helpers import assert_error


async def test_daily_cap_under_parallel_exchanges(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    a, b, p = await alliance(client, rt, rate={"points": 1, "partner_points": 1}, daily_cap=100)
    people = [await by_unionid(a, b, f"m{i}") for i in range(4)]
    for i, person in enumerate(people):
        await give_points(rt, a, person.a_id, 200, f"gift:{i}")

    tries = [people[i % 4] for i in range(20)]
    responses = await asyncio.gather(*(exchange(client, m.a, p["id"], 10) for m in tries))
    ok = [r for r in responses if r.status_code == 201]
    assert len(ok) == 10
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "daily_cap_reached")
    sent = [200 - await points(client, m.a) for m in people]
    received = [await points(client, m.b) for m in people]
    assert sum(sent) == sum(received) == 100 and sent == received
    assert (await counts(rt))["cap_used"] == 100

    # The other direction has its own allowance; tomorrow (Shanghai) this one starts afresh.
    r = await exchange(client, people[0].b, p["id"], 10)
    assert r.status_code == 201, r.text
    assert_error(await exchange(client, people[0].a, p["id"], 10), 409, "daily_cap_reached")
    clock.advance(hours=14)  # 10:00 -> 00:00 the next day in Asia/Shanghai
    assert (await exchange(client, people[0].a, p["id"], 10)).status_code == 201


async def test_member_daily_cap_under_parallel_exchanges(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    a, b, p = await alliance(
        client, rt, rate={"points": 1, "partner_points": 1}, daily_cap=1000, member_daily_cap=30
    )
    alice = await by_unionid(a, b, "alice")
    await give_points(rt, a, alice.a_id, 500, "gift:alice")
    responses = await asyncio.gather(*(exchange(client, alice.a, p["id"], 10) for _ in range(10)))
    assert sum(r.status_code == 201 for r in responses) == 3
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "member_daily_cap_reached")
    assert await points(client, alice.a) == 470 and await points(client, alice.b) == 30


async def test_balance_under_parallel_exchanges(client: httpx.AsyncClient, rt: Runtime) -> None:
    a, b, p = await alliance(client, rt, rate={"points": 10, "partner_points": 1})
    alice = await by_unionid(a, b, "alice")
    await give_points(rt, a, alice.a_id, 100, "gift:alice")
    responses = await asyncio.gather(*(exchange(client, alice.a, p["id"], 50) for _ in range(5)))
    assert sum(r.status_code == 201 for r in responses) == 2
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "insufficient_points")
    assert await points(client, alice.a) == 0 and await points(client, alice.b) == 10
    c = await counts(rt)
    assert (c["alliance_exchanges"], c["alliance_settlements"], c["cap_used"]) == (2, 2, 100)


async def test_opposite_exchanges_of_one_person(client: httpx.AsyncClient, rt: Runtime) -> None:
    a, b, p = await alliance(client, rt, rate={"points": 1, "partner_points": 1})
    alice = await by_unionid(a, b, "alice")
    await give_points(rt, a, alice.a_id, 100, "gift:a")
    await give_points(rt, b, alice.b_id, 100, "gift:b")
    key = {"Idempotency-Key": "same-request"}
    tries = [exchange(client, alice.a, p["id"], 5) for _ in range(8)]
    tries += [exchange(client, alice.b, p["id"], 5) for _ in range(8)]
    tries += [exchange(client, alice.a, p["id"], 7, **key) for _ in range(4)]
    responses = await asyncio.gather(*tries)
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    replayed = {r.json()["id"] for r in responses[16:]}
    assert len(replayed) == 1  # one exchange for the four requests with one key
    assert await points(client, alice.a) == 100 - 7 and await points(client, alice.b) == 100 + 7
    assert (await counts(rt))["alliance_exchanges"] == 17
