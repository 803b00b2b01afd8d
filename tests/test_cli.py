"""The command line as an operator uses it: fresh data dirs, re-runs, a running server."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import queue
import re
import selectors
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy import func, select

from growthloop.core.runtime import Runtime
from growthloop.orders.importer import ImportFailed, import_orders_csv
from growthloop.orders.models import Order, OrderItem
from tests.helpers import make_shop
from tests.processes import BIN, free_port, run_cli, shell_env


def _wait_until_serving(proc: subprocess.Popen[bytes], base: str) -> bool:
    """True once the server answers; False if it exited first (e.g. the port was taken
    between free_port() and its bind, by another worker's connection)."""
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
    env = shell_env(tmp_path, GROWTHLOOP_LOG_LEVEL="WARNING")
    exits: list[str] = []
    for _ in range(3):
        port = free_port()
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


async def _dev_login_then_owners(
    data_dir: Path, merchant_id: str, code: str | None
) -> tuple[str | None, list[str | None]]:
    """In this process, on the CLI's data dir: log `code` in through the dev platform (when
    given), and read who owns the merchant's orders. Returns (member id, owners)."""
    from growthloop.core.config import Settings
    from growthloop.identity import service as identity
    from growthloop.identity.platforms import DevAdapter
    from growthloop.wiring import build_runtime

    rt = build_runtime(Settings(data_dir=data_dir, run_sweeper=False))
    try:
        member_id = None
        async with rt.db.unit_of_work() as uow:
            if code is not None:
                login = await identity.login_member(
                    uow.session,
                    merchant_id=merchant_id,
                    platform="dev",
                    code=code,
                    adapters={"dev": DevAdapter()},
                )
                member_id = login.member.id
            stmt = select(Order.member_id).where(Order.merchant_id == merchant_id)
            owners = list((await uow.session.execute(stmt.order_by(Order.id))).scalars())
        return member_id, owners
    finally:
        await rt.analytics.close()
        await rt.db.dispose()


def test_import_orders_cli_attaches_history_to_an_existing_member(tmp_path: Path) -> None:
    """A dev-login `alice` and the CSV's `alice` are one member (API.md: the external id
    first matches a platform account, and only then is a member created)."""
    created = run_cli(
        tmp_path,
        "merchant",
        "create",
        "--name",
        "店",
        "--admin-email",
        "a@x.test",
        "--admin-password",
        "password1",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    merchant_id = json.loads(created.stdout)["merchant_id"]
    alice, _ = asyncio.run(_dev_login_then_owners(tmp_path, merchant_id, "alice"))
    csv = tmp_path / "orders.csv"
    csv.write_text(
        "member_external_id,ordered_at,amount\nalice,2026-01-05,1500\nbob,2026-01-06,900\n",
        encoding="utf-8",
    )
    r = run_cli(tmp_path, "import", "orders", "--merchant", merchant_id, "--csv", str(csv))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "rows": 2,
        "orders_created": 2,
        "orders_skipped": 0,
        "members_created": 1,
    }
    _, owners = asyncio.run(_dev_login_then_owners(tmp_path, merchant_id, None))
    assert owners[0] == alice and owners[1] not in (None, alice)


async def _member_asking_deletion(data_dir: Path, merchant_id: str) -> str:
    """A member of the shop, logged in and asking for deletion, made in this process on
    the server's data dir; returns their token."""
    from growthloop.compliance import deletion
    from growthloop.core.config import Settings
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


# -- serve and demo: the port first, then readable logs ----------------------------------------


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_busy_port_is_one_line_before_any_work(tmp_path: Path, command: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for extra, hint in (({}, r"--port \d+"), ({"MAKELEVEL": "1"}, r"PORT=\d+ make run")):
            r = subprocess.run(  # noqa: S603
                [str(BIN), command, "--port", str(port)],
                env=shell_env(tmp_path, **extra),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert (r.returncode, r.stdout) == (1, "")
            assert re.fullmatch(
                f"growthloop: port {port} is in use on 127.0.0.1 "
                rf"\(is another server running\?\): try {hint}\n",
                r.stderr,
            ), r.stderr
    # Refused before migrating or seeding anything.
    assert list(tmp_path.iterdir()) == []


def test_an_address_of_another_machine_is_one_line(tmp_path: Path) -> None:
    r = subprocess.run(  # noqa: S603 - 192.0.2.1: TEST-NET-1, never a local address
        [str(BIN), "serve", "--host", "192.0.2.1", "--port", "0"],
        env=shell_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == (
        "growthloop: cannot listen on 192.0.2.1: not an address of this machine; try --host "
        "127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_make_run_honours_port_and_host() -> None:
    root = Path(__file__).resolve().parents[1]
    # Run from `make test` too: without its MAKELEVEL, this make does not print the
    # "Entering directory" lines of a sub-make.
    outer = {"PORT", "HOST", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    env = {k: v for k, v in os.environ.items() if k not in outer}
    dry = ["make", "--no-print-directory", "-n", "run"]
    runs: tuple[tuple[list[str], dict[str, str]], ...] = (
        (dry, {}),
        ([*dry, "PORT=8123", "HOST=0.0.0.0"], {}),
        (dry, {"PORT": "8124"}),
    )
    last_lines = []
    for args, extra in runs:
        r = subprocess.run(  # noqa: S603
            args, cwd=root, env={**env, **extra}, capture_output=True, text=True, check=True
        )
        last_lines.append(r.stdout.splitlines()[-1])
    assert last_lines == [
        ".venv/bin/growthloop demo --host 127.0.0.1 --port 8000",
        ".venv/bin/growthloop demo --host 0.0.0.0 --port 8123",
        ".venv/bin/growthloop demo --host 127.0.0.1 --port 8124",
    ]


def _read_lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def test_serve_announces_itself_once_the_port_answers(tmp_path: Path) -> None:
    """`--port 0` takes a free port; the banner names it and comes once it answers. Piped,
    the logs are JSON lines, with Alembic's line per migration and the summary."""
    proc = subprocess.Popen(  # noqa: S603
        [str(BIN), "serve", "--port", "0"],
        env=shell_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
        line = ""
        while "growthloop:" not in line:
            got = lines.get(timeout=180)
            assert got is not None, "serve exited"
            line = got
        found = re.fullmatch(
            r"  growthloop: http://127\.0\.0\.1:(\d+)   API docs: http://127\.0\.0\.1:\1/docs\n",
            line,
        )
        assert found, line
        port = int(found[1])
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    logs = [json.loads(line) for line in err.splitlines()]
    messages = [entry["message"] for entry in logs]
    assert any(m.startswith("Running upgrade") for m in messages)
    summary = [m for m in messages if m.startswith("database migrated")]
    assert len(summary) == 1 and re.fullmatch(
        r"database migrated: \d+ migrations applied", summary[0]
    )


def test_a_first_run_at_a_terminal_reads_as_lines(tmp_path: Path) -> None:
    """At a terminal: one readable line per entry, the migrations of a fresh data dir in one
    summary line, then the banner."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(  # noqa: S603
        [str(BIN), "serve", "--port", "0"],
        env=shell_env(tmp_path, TERM="dumb"),
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    seen = b""
    readable = selectors.DefaultSelector()
    readable.register(controller, selectors.EVENT_READ)
    try:
        deadline = time.monotonic() + 180
        while b"API docs:" not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen.decode(
                errors="replace"
            )
            if readable.select(timeout=0.5):
                seen += os.read(controller, 65536)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        readable.close()
        os.close(controller)
    lines = [line for line in seen.decode().replace("\r", "").splitlines() if line.strip()]
    banner = [line for line in lines if line.startswith("  growthloop:")]
    logs = [line for line in lines if line not in banner]
    assert len(banner) == 1
    started = lines.index(next(line for line in logs if "Application startup complete" in line))
    assert started < lines.index(banner[0])
    assert all(
        re.match(r"\d\d:\d\d:\d\d (INFO |WARNING|DEBUG|ERROR) \S+: ", line) for line in logs
    ), logs
    migrations = [line for line in logs if "migrat" in line.lower()]
    assert len(migrations) == 1
    assert re.search(
        r"INFO  growthloop\.migrate: database migrated: \d+ migrations applied$", migrations[0]
    )
