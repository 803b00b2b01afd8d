from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import create_async_engine

from growthloop.core.config import Settings
from growthloop.core.logs import DRIVER_LOGGERS, LogFormat, configure_logging, request_id_var
from growthloop.core.runtime import Runtime
from growthloop.migrate import alembic_config, upgrade
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


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def _logging_restored() -> Iterator[None]:
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    saved = (root.handlers[:], root.level, alembic.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    alembic.setLevel(saved[2])


@pytest.mark.usefixtures("_logging_restored")
@pytest.mark.parametrize(
    ("log_format", "stream", "text"),
    [
        ("auto", _Terminal, True),
        ("auto", io.StringIO, False),
        ("json", _Terminal, False),
        ("text", io.StringIO, True),
    ],
)
def test_log_format_follows_the_terminal(
    monkeypatch: pytest.MonkeyPatch, log_format: LogFormat, stream: type[io.StringIO], text: bool
) -> None:
    """Readable lines for a person at a terminal, JSON for anything else, unless asked; at
    a terminal Alembic's line per migration is left out (growthloop.migrate sums them up)."""
    err = stream()
    monkeypatch.setattr(sys, "stderr", err)
    configure_logging("INFO", log_format)
    logging.getLogger("alembic.runtime.migration").info("Running upgrade a -> b, orders")
    logging.getLogger("growthloop.migrate").info("database migrated: 2 migrations applied")
    token = request_id_var.set("req-7")
    try:
        logging.getLogger("growthloop.request").info(
            "request",
            extra={"method": "GET", "route": "/v1/orders", "status": 200, "duration_ms": 1.5},
        )
    finally:
        request_id_var.reset(token)
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    lines = err.getvalue().splitlines()
    if text:
        stamp = r"\d\d:\d\d:\d\d"
        assert len(lines) == 3
        assert re.fullmatch(
            rf"{stamp} INFO  growthloop\.migrate: database migrated: 2 migrations applied",
            lines[0],
        )
        assert re.fullmatch(
            rf"{stamp} INFO  growthloop\.request: request method=GET route=/v1/orders "
            r"status=200 duration_ms=1\.5 request_id=req-7",
            lines[1],
        )
        assert re.fullmatch(rf"{stamp} INFO  uvicorn: Application startup complete\.", lines[2])
    else:
        entries = [json.loads(line) for line in lines]
        assert [e["message"] for e in entries] == [
            "Running upgrade a -> b, orders",
            "database migrated: 2 migrations applied",
            "request",
            "Application startup complete.",
        ]
        assert entries[2]["request_id"] == "req-7" and entries[2]["status"] == 200


def test_log_format_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROWTHLOOP_LOG_FORMAT", raising=False)
    assert Settings().log_format == "auto"
    monkeypatch.setenv("GROWTHLOOP_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("GROWTHLOOP_LOG_FORMAT", "yaml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings()


async def test_migrations_are_counted_and_summed_up_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fresh database runs every migration and logs one summary line; a second upgrade
    runs none and logs nothing."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    revisions = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    try:
        with caplog.at_level(logging.INFO, logger="growthloop.migrate"):
            assert await upgrade(engine) == len(revisions)
            assert await upgrade(engine) == 0
    finally:
        await engine.dispose()
    summaries = [r.getMessage() for r in caplog.records if r.name == "growthloop.migrate"]
    assert summaries == [f"database migrated: {len(revisions)} migrations applied"]
