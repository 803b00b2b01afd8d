"""Birthdays: set once by the member, celebrated once a year on the day in the merchant's
timezone by the `identity.birthdays` sweep."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import update

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from growthloop.identity import service as identity
from growthloop.identity import tasks as identity_tasks
from growthloop.identity.events import MemberBirthday
from growthloop.identity.models import Member
from growthloop.wiring import build_runtime
from tests.conftest import Stack
from tests.helpers import assert_error, make_shop
from tests.identity.support import committed_events, login

SWEEP = "identity.birthdays"


async def _patch(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.patch("/v1/me/profile", json=body, headers=headers)


async def _me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.get("/v1/me", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _born(client: httpx.AsyncClient, merchant_id: str, code: str, birthday: str) -> str:
    member = await login(client, merchant_id, code)
    r = await _patch(client, member["headers"], {"birthday": birthday})
    assert r.status_code == 200, r.text
    return str(member["member_id"])


async def _utc_merchant(rt: Runtime) -> str:
    async with rt.db.unit_of_work() as uow:
        merchant, _ = await identity.create_merchant(
            uow.session,
            "London Tea",
            "owner-utc@shop.test",
            "owner-password",
            rt.clock.now(),
            "UTC",
        )
        return merchant.id


async def test_the_birthday_is_set_once(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await login(client, shop.merchant_id, "alice")
    me = await _me(client, member["headers"])
    assert me["birthday"] is None and me["nickname"] is None

    r = await _patch(client, member["headers"], {"nickname": " 小明 ", "birthday": "1990-03-02"})
    assert r.status_code == 200, r.text
    assert (r.json()["nickname"], r.json()["birthday"]) == ("小明", "1990-03-02")
    assert (await _me(client, member["headers"]))["birthday"] == "1990-03-02"

    # The same date again is no change; another date is refused, and nothing else is written.
    r = await _patch(client, member["headers"], {"birthday": "1990-03-02"})
    assert r.status_code == 200, r.text
    r = await _patch(client, member["headers"], {"nickname": "改名", "birthday": "1991-03-02"})
    assert_error(r, 409, "birthday_already_set")
    me = await _me(client, member["headers"])
    assert (me["nickname"], me["birthday"]) == ("小明", "1990-03-02")

    # Fields left out stay; a null nickname clears it.
    r = await _patch(client, member["headers"], {})
    assert (r.json()["nickname"], r.json()["birthday"]) == ("小明", "1990-03-02")
    r = await _patch(client, member["headers"], {"nickname": None})
    assert (r.json()["nickname"], r.json()["birthday"]) == (None, "1990-03-02")


async def test_bad_birthdays_are_refused(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await login(client, shop.merchant_id, "alice")
    # The clock says 2026-03-02 10:00 in Shanghai.
    cases: list[tuple[Any, str]] = [
        ({"birthday": "2026-03-03"}, "invalid_birthday"),  # tomorrow
        ({"birthday": "2100-01-01"}, "invalid_birthday"),
        ({"birthday": "1899-12-31"}, "invalid_birthday"),
        ({"birthday": "0001-01-01"}, "invalid_birthday"),
        ({"birthday": "2026-02-29"}, "invalid_input"),  # no such day
        ({"birthday": "1990-13-01"}, "invalid_input"),
        ({"birthday": "03-02"}, "invalid_input"),
        ({"birthday": 19900302}, "invalid_input"),
        ({"birthday": 0}, "invalid_input"),
        ({"birthday": None}, "invalid_input"),
        ({"birthday": "1990-03-02T00:00:00"}, "invalid_input"),
        ({"nickname": ""}, "invalid_input"),
        ({"nickname": "x" * 65}, "invalid_input"),
        ({"nickname": "ok", "phone": "13800000000"}, "invalid_input"),
        ([], "invalid_input"),
    ]
    for body, code in cases:
        assert_error(await _patch(client, member["headers"], body), 422, code)
    me = await _me(client, member["headers"])
    assert (me["nickname"], me["birthday"]) == (None, None)
    # Born today (in the merchant's timezone) is a valid birthday.
    r = await _patch(client, member["headers"], {"birthday": "2026-03-02"})
    assert r.status_code == 200, r.text


async def test_celebrated_once_a_year_on_the_day_in_the_merchants_timezone(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shanghai = (await make_shop(client, rt)).merchant_id
    london = await _utc_merchant(rt)
    in_shanghai = await _born(client, shanghai, "sh-0302", "1990-03-02")
    await _born(client, shanghai, "sh-0520", "1990-05-20")
    await login(client, shanghai, "sh-none")
    london_0301 = await _born(client, london, "utc-0301", "1985-03-01")
    london_0302 = await _born(client, london, "utc-0302", "1985-03-02")
    gone = await _born(client, shanghai, "sh-gone", "1995-03-02")
    async with rt.db.unit_of_work() as uow:
        await uow.session.execute(update(Member).where(Member.id == gone).values(status="deleted"))

    with committed_events(rt, MemberBirthday) as seen:
        # 2 March 01:30 in Shanghai is still 1 March in UTC.
        clock.set(datetime(2026, 3, 1, 17, 30, tzinfo=UTC))
        assert (await rt.sweeper.run_once())[SWEEP] == 2
        assert (await rt.sweeper.run_once())[SWEEP] == 0
        assert sorted((e.member_id, e.merchant_id, e.payload) for e in seen) == sorted(
            [
                (in_shanghai, shanghai, {"year": 2026, "day": "2026-03-02"}),
                (london_0301, london, {"year": 2026, "day": "2026-03-01"}),
            ]
        )
        seen.clear()
        # Later that day: 2 March has come in UTC too; Shanghai's member is not greeted again.
        clock.set(datetime(2026, 3, 2, 0, 30, tzinfo=UTC))
        assert (await rt.sweeper.run_once())[SWEEP] == 1
        clock.set(datetime(2026, 3, 2, 15, 59, tzinfo=UTC))
        assert (await rt.sweeper.run_once())[SWEEP] == 0
        assert [(e.member_id, e.payload) for e in seen] == [
            (london_0302, {"year": 2026, "day": "2026-03-02"})
        ]
        seen.clear()
        # The next year, once again.
        clock.set(datetime(2027, 3, 2, 12, 0, tzinfo=UTC))
        assert (await rt.sweeper.run_once())[SWEEP] == 2
        assert (await rt.sweeper.run_once())[SWEEP] == 0
        assert sorted((e.member_id, e.payload["day"]) for e in seen) == sorted(
            [(in_shanghai, "2027-03-02"), (london_0302, "2027-03-02")]
        )


async def test_29_february_is_celebrated_on_28_february_in_common_years(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    leapling = await _born(client, shop.merchant_id, "leap", "2000-02-29")
    on_28th = await _born(client, shop.merchant_id, "feb28", "2001-02-28")

    async def celebrated_at(*day: int) -> list[tuple[str | None, dict[str, Any]]]:
        clock.set(datetime(*day, 4, 0, tzinfo=UTC))  # noon in Shanghai
        with committed_events(rt, MemberBirthday) as seen:
            await rt.sweeper.run_once()
            assert (await rt.sweeper.run_once())[SWEEP] == 0
        return sorted((e.member_id, e.payload) for e in seen)

    assert await celebrated_at(2027, 2, 27) == []
    assert await celebrated_at(2027, 2, 28) == sorted(
        [
            (leapling, {"year": 2027, "day": "2027-02-28"}),
            (on_28th, {"year": 2027, "day": "2027-02-28"}),
        ]
    )
    assert await celebrated_at(2027, 3, 1) == []
    assert await celebrated_at(2028, 2, 28) == [(on_28th, {"year": 2028, "day": "2028-02-28"})]
    assert await celebrated_at(2028, 2, 29) == [(leapling, {"year": 2028, "day": "2028-02-29"})]


async def test_batches_and_two_workers_celebrate_each_member_once(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, stack: Stack
) -> None:
    shop = await make_shop(client, rt)
    born = {await _born(client, shop.merchant_id, f"m{n}", "1999-03-10") for n in range(7)}
    clock.set(datetime(2026, 3, 10, 4, 0, tzinfo=UTC))
    worker = build_runtime(rt.settings, stack.clock)
    try:
        # Each runtime emits through its own bus, in the transaction that celebrates.
        with (
            committed_events(rt, MemberBirthday) as seen,
            committed_events(worker, MemberBirthday) as seen_by_worker,
        ):
            a, b = await asyncio.gather(
                identity_tasks.celebrate_birthdays(rt.db, clock, batch_size=3),
                identity_tasks.celebrate_birthdays(worker.db, clock, batch_size=3),
            )
            assert a + b == 7
            assert await identity_tasks.celebrate_birthdays(rt.db, clock, batch_size=3) == 0
    finally:
        await worker.db.dispose()
    assert sorted(e.member_id or "" for e in seen + seen_by_worker) == sorted(born)
