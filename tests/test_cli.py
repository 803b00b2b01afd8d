"""The command line as an operator uses it: fresh data dirs, re-runs, a running server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from growthloop.core.runtime import Runtime
from growthloop.orders.importer import ImportFailed, import_orders_csv
from growthloop.orders.models import Order, OrderItem
from tests.helpers import make_shop

BIN = Path(sys.executable).parent / "growthloop"


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROWTHLOOP_")}
    env["GROWTHLOOP_DATA_DIR"] = str(data_dir)
    return subprocess.run(  # noqa: S603
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_serving(proc: subprocess.Popen[bytes], base: str) -> bool:
    """True once the server answers; False if it exited first (e.g. the port was taken
    between _free_port() and its bind, by another worker's connection)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc.poll() is None  # and it is this process that answered
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROWTHLOOP_")}
    env.update(GROWTHLOOP_DATA_DIR=str(tmp_path), GROWTHLOOP_LOG_LEVEL="WARNING")
    exits: list[str] = []
    for _ in range(3):
        port = _free_port()
        proc = subprocess.Popen(  # noqa: S603
            [str(BIN), "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE
        )
        base = f"http://127.0.0.1:{port}"
        try:
            if _wait_until_serving(proc, base):
                break
        except BaseException:
            proc.kill()
            proc.wait(timeout=20)
            raise
        _, err = proc.communicate(timeout=20)
        exits.append(f"port {port}: exit {proc.returncode}: {err.decode(errors='replace')}")
    else:
        raise RuntimeError("server did not start:\n" + "\n".join(exits))
    try:
        yield tmp_path, base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_merchant_create_json_while_serving(server: tuple[Path, str]) -> None:
    data_dir, base = server
    r = run_cli(
        data_dir,
        "merchant",
        "create",
        "--name",
        "茶铺",
        "--admin-email",
        "Boss@Tea.test",
        "--admin-password",
        "boss-password",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"merchant_id", "ingest_key", "admin_email"}
    assert out["admin_email"] == "boss@tea.test"
    # The running server sees it at once and the owner can log in.
    login = httpx.post(
        f"{base}/v1/admin/login", json={"email": "boss@tea.test", "password": "boss-password"}
    )
    assert login.status_code == 200
    again = run_cli(
        data_dir,
        "merchant",
        "create",
        "--name",
        "x",
        "--admin-email",
        "boss@tea.test",
        "--admin-password",
        "boss-password",
        "--json",
    )
    assert again.returncode == 1 and "email_taken" in again.stderr
    short = run_cli(
        data_dir,
        "merchant",
        "create",
        "--name",
        "x",
        "--admin-email",
        "a@b.test",
        "--admin-password",
        "short",
    )
    assert short.returncode != 0


def test_import_orders_cli_is_rerunnable(tmp_path: Path) -> None:
    created = json.loads(
        run_cli(
            tmp_path,
            "merchant",
            "create",
            "--name",
            "店",
            "--admin-email",
            "o@x.test",
            "--admin-password",
            "password1",
            "--json",
        ).stdout
    )
    csv = tmp_path / "orders.csv"
    csv.write_text(
        "member_external_id,ordered_at,amount\n"
        "m1,2026-01-05T10:00:00+08:00,1500\n"
        "m1,2026-01-05T10:00:00+08:00,1500\n"
        "m2,2026-01-06,2300\n",
        encoding="utf-8",
    )
    first = run_cli(
        tmp_path, "import", "orders", "--merchant", created["merchant_id"], "--csv", str(csv)
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "rows": 3,
        "orders_created": 3,
        "orders_skipped": 0,
        "members_created": 2,
    }
    second = run_cli(
        tmp_path, "import", "orders", "--merchant", created["merchant_id"], "--csv", str(csv)
    )
    assert json.loads(second.stdout)["orders_created"] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("member_external_id,ordered_at,amount\nm1,yesterday,12.5\n", encoding="utf-8")
    failed = run_cli(
        tmp_path, "import", "orders", "--merchant", created["merchant_id"], "--csv", str(bad)
    )
    assert failed.returncode == 1 and "line 2" in failed.stderr


async def test_import_semantics(client: httpx.AsyncClient, rt: Runtime, tmp_path: Path) -> None:
    shop = await make_shop(client, rt)
    csv = tmp_path / "history.csv"
    csv.write_text(
        "member_external_id,ordered_at,amount,quantity,order_external_id,product\n"
        "alice,2026-01-05T10:00:00,3000,2,A-1,珍珠奶茶\n"
        "alice,2026-01-05T10:00:00,1000,1,A-1,蛋挞\n"
        "bob,2026-01-07T23:30:00+08:00,1800,,,\n"
        "bob,2026-01-07T23:30:00+08:00,1800,,,\n",
        encoding="utf-8",
    )
    assert await import_orders_csv(rt, shop.merchant_id, csv) == {
        "rows": 4,
        "orders_created": 3,
        "orders_skipped": 0,
        "members_created": 2,
    }
    # Adding a row and re-running adds only the new row.
    with csv.open("a", encoding="utf-8") as handle:
        handle.write("bob,2026-01-07T23:30:00+08:00,1800,,,\n")
    result = await import_orders_csv(rt, shop.merchant_id, csv)
    assert (result["orders_created"], result["orders_skipped"]) == (1, 3)
    async with rt.db.unit_of_work(write=False) as uow:
        orders = (
            (await uow.session.execute(select(Order).order_by(Order.created_at))).scalars().all()
        )
        items = (
            await uow.session.execute(select(func.count()).select_from(OrderItem))
        ).scalar_one()
    assert [o.payable for o in orders] == [4000, 1800, 1800, 1800]
    assert {o.status for o in orders} == {"completed"} and {o.source for o in orders} == {"import"}
    assert items == 5
    # Naive times are the merchant's local time (Asia/Shanghai): 10:00 local is 02:00 UTC.
    assert orders[0].created_at.isoformat() == "2026-01-05T02:00:00+00:00"
    # The imported members are real members: one logging in later with that id is not new.
    members = await client.get("/v1/admin/orders?limit=10", headers=shop.admin)
    assert len(members.json()["items"]) == 4

    broken = tmp_path / "broken.csv"
    broken.write_text("member_external_id,amount\nx,1\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="ordered_at"):
        await import_orders_csv(rt, shop.merchant_id, broken)


async def _member_asking_deletion(data_dir: Path, merchant_id: str) -> str:
    """A member of the shop, logged in and asking for deletion, made in this process on
    the server's data dir; returns their token."""
    from growthloop.compliance import deletion
    from growthloop.config import Settings
    from growthloop.identity import service as identity
    from growthloop.identity.platforms import DevAdapter
    from growthloop.wiring import build_runtime

    rt = build_runtime(Settings(data_dir=data_dir, run_sweeper=False))
    try:
        async with rt.db.unit_of_work() as uow:
            login = await identity.login_member(
                uow.session,
                merchant_id=merchant_id,
                platform="dev",
                code="leaving-member",
                adapters={"dev": DevAdapter()},
                clock=rt.clock,
            )
            member_id = login.member.id
            await deletion.request_deletion(uow.session, merchant_id, member_id, 7)
        return rt.tokens.issue("member", member_id, merchant_id, rt.clock.now(), timedelta(days=1))
    finally:
        await rt.analytics.close()
        await rt.db.dispose()


def test_compliance_run_due_while_serving(server: tuple[Path, str]) -> None:
    """`growthloop compliance run-due --now` erases a member while `serve` runs on the same
    data dir (the embedded event store does not lock the command out)."""
    data_dir, base = server
    created = json.loads(
        run_cli(
            data_dir,
            "merchant",
            "create",
            "--name",
            "茶",
            "--admin-email",
            "a@b.test",
            "--admin-password",
            "owner-password",
            "--json",
        ).stdout
    )
    token = asyncio.run(_member_asking_deletion(data_dir, created["merchant_id"]))
    me = {"Authorization": f"Bearer {token}"}
    # The server takes the member's SDK events meanwhile.
    events = [{"event": "view", "distinct_id": "leaving-member"}]
    r = httpx.post(
        f"{base}/v1/ingest/batch",
        json={"events": events},
        headers={"X-Ingest-Key": created["ingest_key"]},
    )
    assert r.json()["accepted"] == 1
    assert httpx.get(f"{base}/v1/me", headers=me).status_code == 200

    due = run_cli(data_dir, "compliance", "run-due")
    assert json.loads(due.stdout) == {"carried_out": 0}, due.stderr  # still cooling off
    done = run_cli(data_dir, "compliance", "run-due", "--now")
    assert json.loads(done.stdout) == {"carried_out": 1}, done.stderr
    assert httpx.get(f"{base}/v1/me", headers=me).status_code == 401
    for path in data_dir.rglob("*"):
        if path.is_file() and path.suffix != ".parquet":
            assert b"leaving-member" not in path.read_bytes(), path
