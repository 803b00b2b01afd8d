"""No personal value or secret reaches a log line, at any level, in either format, while a
member's personal data goes through login, profile, orders, payments (a refused one too),
a shipped points-mall gift, a data export and an account erasure, and while code logs
fields whose names say they are personal."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest

from growthloop.compliance import deletion
from growthloop.core.logs import DRIVER_LOGGERS, JsonFormatter, TextFormatter, quiet_drivers
from growthloop.core.runtime import Runtime
from tests.helpers import make_shop
from tests.mall.support import SHIPPING, earn, program, redeem, reward

NICKNAME = "王小明Secret"
LOGIN_CODE = "login-code-13912345678"
ADMIN_PASSWORD = "hunter2-admin-pw"  # a test value looked for in the logs


@pytest.fixture
def captured() -> Iterator[dict[str, io.StringIO]]:
    """Every record at DEBUG, written by both formatters, the drivers held at WARNING as
    `configure_logging` holds them (they print SQL parameters at DEBUG)."""
    streams = {"json": io.StringIO(), "text": io.StringIO()}
    handlers = []
    for kind, formatter in (("json", JsonFormatter()), ("text", TextFormatter())):
        handler = logging.StreamHandler(streams[kind])
        handler.setFormatter(formatter)
        handler.setLevel(logging.DEBUG)
        handlers.append(handler)
    root = logging.getLogger()
    drivers = [logging.getLogger(name) for name in DRIVER_LOGGERS]
    saved = root.level, [d.level for d in drivers]
    root.setLevel(logging.DEBUG)
    root.handlers.extend(handlers)
    quiet_drivers()
    try:
        yield streams
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(saved[0])
        for driver, level in zip(drivers, saved[1], strict=True):
            driver.setLevel(level)


async def test_no_personal_value_reaches_a_log_line(
    client: httpx.AsyncClient, rt: Runtime, captured: dict[str, io.StringIO]
) -> None:
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member(LOGIN_CODE)
    r = await client.patch("/v1/me/profile", json={"nickname": NICKNAME}, headers=member)
    assert r.status_code == 200, r.text
    await earn(shop, member, 500)
    gift = await reward(shop, points_cost=100, stock=5)
    assert (await redeem(shop, member, gift["id"], shipping=SHIPPING)).status_code == 201
    r = await client.get("/v1/admin/mall/redemptions?reveal=true", headers=shop.admin)
    assert r.status_code == 200, r.text
    # A notification with a bad signature is refused (and logged as refused, by reason).
    r = await client.post(
        "/v1/payments/notify/sandbox",
        content=b'{"order_id": "x", "phone": "13912345678"}',
        headers={"X-Sandbox-Signature": "forged"},
    )
    assert r.status_code >= 400
    await client.post("/v1/admin/login", json={"email": "o@x.test", "password": ADMIN_PASSWORD})
    assert (await client.post("/v1/me/data-export", headers=member)).status_code == 200
    assert (await client.post("/v1/me/deletion", headers=member)).status_code == 200
    rt.clock.advance(days=16)  # type: ignore[attr-defined]
    await deletion.run_due(rt.db, rt.clock, rt.privacy)

    # Code that passes personal fields by mistake: the fields are dropped by their names.
    logging.getLogger("growthloop.test").warning(
        "careless",
        extra={"phone": SHIPPING["phone"], "nickname": NICKNAME, "token": member["Authorization"]},
    )

    token = member["Authorization"].removeprefix("Bearer ")
    secrets = (
        NICKNAME,
        LOGIN_CODE,
        "13912345678",
        ADMIN_PASSWORD,
        SHIPPING["name"],
        SHIPPING["phone"],
        SHIPPING["address"],
        token,
        rt.settings.secret_key,
    )
    for kind, stream in captured.items():
        text = stream.getvalue()
        assert "careless" in text and "request" in text, kind  # the logs were captured
        for value in secrets:
            assert value not in text, (kind, value)
