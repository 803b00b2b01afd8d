"""Shop settings after `merchant create`: `GET /v1/admin/merchant` for any staff, `PATCH`
for the owner only, audited in the same transaction; a timezone change says what it
affects; bad input is a 422 that changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from growthloop.core import audit
from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, assert_error, make_shop

PATH = "/v1/admin/merchant"
HOURS = [
    {"weekday": 4, "open": "10:00", "close": "02:00"},  # Friday, past midnight
    {"weekday": 0, "open": "09:30", "close": "21:00"},
    {"weekday": 0, "open": "07:00", "close": "09:00"},
]


async def _settings(shop: Shop) -> dict[str, Any]:
    r = await shop.client.get(PATH, headers=shop.admin)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _audit(rt: Runtime, merchant_id: str) -> list[audit.AuditEntry]:
    async with rt.db.unit_of_work(write=False) as uow:
        return await audit.entries(uow.session, merchant_id, action="merchant.settings_update")


async def test_every_staff_role_reads_the_settings(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt, "茶饮店")
    expected = {
        "id": shop.merchant_id,
        "name": (await _settings(shop))["name"],
        "timezone": "Asia/Shanghai",
        "contact_phone": None,
        "contact_email": None,
        "logo_url": None,
        "business_hours": [],
    }
    assert expected["name"].startswith("茶饮店")
    for role in ("operator", "analyst", "support"):
        staff = await shop.staff(role)
        r = await client.get(PATH, headers=staff)
        assert r.status_code == 200, r.text
        body = r.json()
        assert {k: body[k] for k in expected} == expected
        assert "ingest_key" not in body


async def test_the_owner_changes_the_settings_audited(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    body = {
        "name": "  一点点·人民广场店 ",
        "contact_phone": "021-6350 1234",
        "contact_email": "Shop@Example.com",
        "logo_url": "https://cdn.example.com/logo.png",
        "business_hours": HOURS,
    }
    r = await client.patch(PATH, json=body, headers=shop.admin)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["name"] == "一点点·人民广场店"
    assert out["contact_phone"] == "021-6350 1234"
    assert out["contact_email"] == "shop@example.com"
    assert out["logo_url"] == "https://cdn.example.com/logo.png"
    assert out["business_hours"] == [
        {"weekday": 0, "open": "07:00", "close": "09:00"},
        {"weekday": 0, "open": "09:30", "close": "21:00"},
        {"weekday": 4, "open": "10:00", "close": "02:00"},
    ]
    assert out["changed"] == [
        "business_hours",
        "contact_email",
        "contact_phone",
        "logo_url",
        "name",
    ]
    assert out["effects"] == []
    assert {k: v for k, v in (await _settings(shop)).items()} == {
        k: v for k, v in out.items() if k not in ("changed", "effects")
    }
    entries = await _audit(rt, shop.merchant_id)
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.actor_type, entry.subject_type, entry.subject_id) == (
        "admin",
        "merchant",
        shop.merchant_id,
    )
    assert entry.details == {"changed": out["changed"]}  # no contact details in the log

    # Leaving a field out keeps it; null clears an optional one; the same value is no change.
    r = await client.patch(
        PATH, json={"contact_phone": None, "name": out["name"]}, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["contact_phone"] is None
    assert r.json()["contact_email"] == "shop@example.com"
    assert r.json()["changed"] == ["contact_phone"]
    r = await client.patch(PATH, json={}, headers=shop.admin)
    assert r.json()["changed"] == [] and r.json()["effects"] == []
    assert len(await _audit(rt, shop.merchant_id)) == 2  # a change that changed nothing: no entry


async def test_a_timezone_change_says_what_it_affects(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=10)
    member = await shop.member()
    clock.set(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # Monday 10:00 Shanghai, Sunday in NY
    order = await shop.paid_order(member, product["id"])
    r = await client.get("/v1/admin/orders", params={"from": "2026-03-02"}, headers=shop.admin)
    assert [o["id"] for o in r.json()["items"]] == [order["id"]]

    r = await client.patch(PATH, json={"timezone": "America/New_York"}, headers=shop.admin)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["timezone"] == "America/New_York"
    assert out["changed"] == ["timezone"]
    areas = [e["area"] for e in out["effects"]]
    assert areas == [
        "pickup_codes",
        "checkin_and_login_days",
        "birthdays",
        "daily_limits",
        "points_expiry",
        "analytics",
        "order_dates",
        "business_hours",
        "recorded_days",
    ]
    assert all(e["description"] for e in out["effects"])
    (entry,) = await _audit(rt, shop.merchant_id)
    assert entry.details == {
        "changed": ["timezone"],
        "timezone_from": "Asia/Shanghai",
        "timezone_to": "America/New_York",
    }
    # From now on the merchant's days are New York's: the order placed at 21:00 on Sunday.
    r = await client.get("/v1/admin/orders", params={"from": "2026-03-02"}, headers=shop.admin)
    assert r.json()["items"] == []
    r = await client.get(
        "/v1/admin/orders", params={"from": "2026-03-01", "to": "2026-03-01"}, headers=shop.admin
    )
    assert [o["id"] for o in r.json()["items"]] == [order["id"]]
    r = await client.get("/v1/admin/me", headers=shop.admin)
    assert r.json()["merchant"]["timezone"] == "America/New_York"
    # Setting the timezone it already has affects nothing.
    r = await client.patch(PATH, json={"timezone": "America/New_York"}, headers=shop.admin)
    assert r.json()["changed"] == [] and r.json()["effects"] == []


async def test_only_the_owner_may_change_them(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    before = await _settings(shop)
    for role in ("operator", "analyst", "support"):
        staff = await shop.staff(role)
        r = await client.patch(PATH, json={"name": "改名"}, headers=staff)
        error = assert_error(r, 403, "forbidden")
        assert error["details"]["required_permission"] == "settings.write"
    assert await _settings(shop) == before
    assert await _audit(rt, shop.merchant_id) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "invalid_timezone"),
        ({"timezone": "localtime"}, "invalid_timezone"),
        ({"timezone": "asia/shanghai"}, "invalid_timezone"),
        ({"timezone": None}, "invalid_input"),
        ({"name": None}, "invalid_input"),
        ({"name": "   "}, "invalid_input"),
        ({"name": "x" * 101}, "invalid_input"),
        ({"logo_url": "http://cdn.example.com/logo.png"}, "invalid_input"),
        ({"logo_url": "https://"}, "invalid_input"),
        ({"logo_url": "https://user:pass@cdn.example.com/logo.png"}, "invalid_input"),
        ({"logo_url": "https://cdn.example.com/a b.png"}, "invalid_input"),
        ({"logo_url": "javascript:alert(1)"}, "invalid_input"),
        ({"logo_url": "https://cdn.example.com:99999/logo.png"}, "invalid_input"),
        ({"logo_url": "https://cdn.example.com/" + "x" * 500}, "invalid_input"),
        ({"contact_email": "not-an-email"}, "invalid_input"),
        ({"contact_phone": "call us"}, "invalid_input"),
        ({"contact_phone": "12"}, "invalid_input"),
        ({"business_hours": [{"weekday": 7, "open": "09:00", "close": "18:00"}]}, "invalid_input"),
        ({"business_hours": [{"weekday": -1, "open": "09:00", "close": "18:00"}]}, "invalid_input"),
        ({"business_hours": [{"weekday": 1, "open": "25:00", "close": "18:00"}]}, "invalid_input"),
        ({"business_hours": [{"weekday": 1, "open": "9:00", "close": "18:00"}]}, "invalid_input"),
        (
            {"business_hours": [{"weekday": "1", "open": "09:00", "close": "18:00"}]},
            "invalid_input",
        ),
        (
            {
                "business_hours": [
                    {"weekday": 1, "open": "09:00", "close": "18:00"},
                    {"weekday": 1, "open": "17:00", "close": "20:00"},
                ]
            },
            "invalid_input",
        ),
        (
            {
                "business_hours": [
                    {"weekday": 6, "open": "20:00", "close": "03:00"},  # Sunday into Monday
                    {"weekday": 0, "open": "02:00", "close": "10:00"},
                ]
            },
            "invalid_input",
        ),
        ({"ingest_key": "ik_mine"}, "invalid_input"),
    ],
)
async def test_bad_input_is_422_and_changes_nothing(
    client: httpx.AsyncClient, rt: Runtime, body: dict[str, Any], code: str
) -> None:
    shop = await make_shop(client, rt)
    before = await _settings(shop)
    r = await client.patch(PATH, json={"name": "新名字", **body}, headers=shop.admin)
    assert_error(r, 422, code)
    assert await _settings(shop) == before
    assert await _audit(rt, shop.merchant_id) == []


async def test_round_the_clock_and_whole_week_hours(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    every_day = [{"weekday": d, "open": "00:00", "close": "00:00"} for d in range(7)]
    r = await client.patch(PATH, json={"business_hours": every_day}, headers=shop.admin)
    assert r.status_code == 200, r.text
    assert r.json()["business_hours"] == every_day
    r = await client.patch(PATH, json={"business_hours": None}, headers=shop.admin)
    assert r.json()["business_hours"] == []


async def test_each_merchant_changes_only_its_own(client: httpx.AsyncClient, rt: Runtime) -> None:
    a, b = await make_shop(client, rt), await make_shop(client, rt)
    before = await _settings(b)
    r = await client.patch(PATH, json={"name": "甲的新名字"}, headers=a.admin)
    assert r.json()["id"] == a.merchant_id
    assert await _settings(b) == before
    assert (await _settings(a))["name"] == "甲的新名字"
