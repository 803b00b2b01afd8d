from __future__ import annotations

import json
import logging

import httpx
import pytest
from pydantic import ValidationError

from growthloop.config import Settings
from growthloop.core.logs import DRIVER_LOGGERS, configure_logging
from growthloop.core.runtime import Runtime
from tests.helpers import make_shop


def test_default_secret_refused_outside_dev() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(env="prod")
    assert Settings(env="prod", secret_key="s" * 40).env == "prod"
    with pytest.raises(ValidationError):
        Settings(env="prod", secret_key="short")


def test_features_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GROWTHLOOP_DEV_LOGIN", "GROWTHLOOP_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.dev_login is False and settings.sandbox is False


async def test_logs_hold_no_secrets(
    client: httpx.AsyncClient, rt: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = await make_shop(client, rt)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("DEBUG")
    try:
        for name in DRIVER_LOGGERS:
            assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
        code = "oXyz-secret-openid-13800138000"
        body = {"merchant_id": shop.merchant_id, "platform": "dev", "code": code}
        token = (await client.post("/v1/auth/login", json=body)).json()["token"]
        headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "req-1"}
        await client.get("/v1/orders?status=paid", headers=headers)
        await client.post("/v1/admin/login", json={"email": "o@x.test", "password": "hunter2-pw"})
        text = capsys.readouterr().err
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    for secret in (code, token, "hunter2-pw", "13800138000", "o@x.test"):
        assert secret not in text
    requests = [json.loads(line) for line in text.splitlines() if '"message": "request"' in line]
    assert len(requests) == 3
    assert {"method", "route", "status", "duration_ms", "request_id"} <= set(requests[0])
    assert requests[1]["request_id"] == "req-1"
    assert requests[1]["route"] == "/v1/orders"


async def test_request_id_header_and_healthz(client: httpx.AsyncClient, rt: Runtime) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert len(r.headers["x-request-id"]) == 26
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"


async def test_docs_are_served_offline(client: httpx.AsyncClient, rt: Runtime) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200 and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in r.text
    assert (await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    for path in (
        "/v1/admin/login",
        "/v1/auth/login",
        "/v1/admin/products",
        "/v1/products",
        "/v1/orders",
        "/v1/orders/{order_id}/pay",
        "/v1/payments/notify/{provider}",
        "/v1/admin/orders/{order_id}/refund",
    ):
        assert path in spec["paths"], path
