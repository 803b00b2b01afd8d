"""Rotating the PII keys as an operator does: real `serve`, `worker` and `growthloop
compliance` commands in subprocesses on one data dir (issue 12, point 2)."""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from growthloop.cli import app
from growthloop.core import crypto, processes
from growthloop.core.config import DEV_SECRET
from tests.processes import BIN, free_port, run_cli, shell_env

K1 = "k1:" + base64.b64encode(bytes(range(32))).decode()
K2 = "k2:" + base64.b64encode(bytes(range(32, 64))).decode()
NICKNAME = "轮换测试员"


def _env(data_dir: Path, keys: str | None) -> dict[str, str]:
    held = {} if keys is None else {"GROWTHLOOP_PII_KEYS": keys}
    return shell_env(data_dir, GROWTHLOOP_LOG_LEVEL="WARNING", GROWTHLOOP_DEV_LOGIN="1", **held)


def cli(data_dir: Path, keys: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(data_dir, *args, env=_env(data_dir, keys))


@contextmanager
def serving(data_dir: Path, keys: str | None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`growthloop serve` with these keys, until the block ends (SIGTERM: a clean stop)."""
    for _ in range(3):
        port = free_port()
        proc = subprocess.Popen(  # noqa: S603
            [str(BIN), "serve", "--port", str(port)],
            env=_env(data_dir, keys),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        if proc.poll() is None:
            break
        _, err = proc.communicate(timeout=20)
        if b"address already in use" not in err.lower():
            raise RuntimeError(f"serve exited {proc.returncode}: {err.decode(errors='replace')}")
    else:
        raise RuntimeError("serve did not start")
    try:
        yield proc, base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode in (0, -15)  # uvicorn re-raises the signal after its clean stop


def _query(data_dir: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "growthloop.db") as db:
        return db.execute(sql, params).fetchall()


def _merchant(data_dir: Path) -> str:
    r = cli(
        data_dir,
        None,
        "merchant",
        "create",
        "--name",
        "茶",
        "--admin-email",
        "o@keys.test",
        "--admin-password",
        "owner-password",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    return str(json.loads(r.stdout)["merchant_id"])


def _member(base: str, merchant_id: str) -> dict[str, str]:
    r = httpx.post(
        f"{base}/v1/auth/login",
        json={"merchant_id": merchant_id, "platform": "dev", "code": "rotating-member"},
    )
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    r = httpx.patch(f"{base}/v1/me/profile", json={"nickname": NICKNAME}, headers=headers)
    assert r.status_code == 200, r.text
    return headers


def _nickname_kid(data_dir: Path) -> str:
    [(stored,)] = _query(data_dir, "SELECT nickname FROM members")
    sealed = crypto.split(stored)
    assert sealed is not None
    return sealed.kid


def _status(data_dir: Path, keys: str | None) -> tuple[int, dict[str, Any]]:
    r = cli(data_dir, keys, "compliance", "keys-status")
    return r.returncode, json.loads(r.stdout)


def test_rotation_is_refused_while_serve_lacks_the_new_key(tmp_path: Path) -> None:
    """The issue: `rotate-keys` with k2 while `serve` runs without it. Refused, naming the
    process and the key; forced, the server answers 503 `pii_key_unavailable`, not 500."""
    merchant_id = _merchant(tmp_path)
    with serving(tmp_path, None) as (proc, base):
        member = _member(base, merchant_id)
        assert _nickname_kid(tmp_path) == "k0"

        code, status = _status(tmp_path, None)
        assert code == 0, status
        [process] = status["processes"]
        assert (process["role"], process["pid"], process["key_ids"]) == ("serve", proc.pid, ["k0"])
        assert status["data"] == {"k0": 1} and status["problems"] == []

        refused = cli(tmp_path, K2, "compliance", "rotate-keys")
        assert refused.returncode == 1
        assert refused.stdout == ""
        assert "refusing to rotate to key id 'k2'" in refused.stderr
        assert f"serve {socket.gethostname()} pid {proc.pid}" in refused.stderr
        assert "lacks key id 'k2'" in refused.stderr
        assert _nickname_kid(tmp_path) == "k0"  # nothing rotated

        forced = cli(tmp_path, K2, "compliance", "rotate-keys", "--force")
        assert forced.returncode == 0, forced.stderr
        assert "warning (--force)" in forced.stderr and f"pid {proc.pid}" in forced.stderr
        out = json.loads(forced.stdout)
        assert out["key_id"] == "k2"
        assert out["columns"]["members.nickname"] == {"rotated": 1, "sealed": 0, "current": 0}
        assert _nickname_kid(tmp_path) == "k2"

        r = httpx.get(f"{base}/v1/me", headers=member)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "pii_key_unavailable"
        assert r.json()["error"]["details"] == {"key_id": "k2"}
        assert "'k2'" in r.json()["error"]["message"]
        code, status = _status(tmp_path, K2)
        assert code == 1
        assert status["problems"] == [
            f"serve {socket.gethostname()} pid {proc.pid} (started "
            f"{datetime.fromisoformat(process['started_at']):%Y-%m-%d %H:%M:%S}Z) lacks key id "
            "'k2', which 1 stored values use: its requests that read them answer 503"
        ]
    # a clean stop removes the heartbeat
    assert _query(tmp_path, "SELECT count(*) FROM process_heartbeats") == [(0,)]


def test_the_safe_procedure(tmp_path: Path) -> None:
    """Add the new key as the newest everywhere and restart, check, rotate, retire the old
    key. A process started without a key the data still uses refuses to start."""
    merchant_id = _merchant(tmp_path)
    with serving(tmp_path, K1) as (_, base):
        member = _member(base, merchant_id)
    assert _nickname_kid(tmp_path) == "k1"

    both = f"{K1},{K2}"
    worker = subprocess.Popen(  # noqa: S603
        [str(BIN), "worker"], env=_env(tmp_path, both), stderr=subprocess.PIPE
    )
    try:
        with serving(tmp_path, both) as (proc, base):
            deadline = time.monotonic() + 60
            while len(_query(tmp_path, "SELECT id FROM process_heartbeats")) < 2:
                assert time.monotonic() < deadline and worker.poll() is None
                time.sleep(0.1)
            code, status = _status(tmp_path, both)
            assert code == 0, status
            assert sorted((p["role"], p["newest_key_id"]) for p in status["processes"]) == [
                ("serve", "k2"),
                ("worker", "k2"),
            ]
            assert status["rotate_to"] == {"key_id": "k2", "blockers": []}
            assert status["data"] == {"k1": 1}

            # k1 retired too early: the new process refuses to start, the running ones serve on
            early = cli(tmp_path, K2, "worker")
            assert early.returncode == 1
            assert "worker not started" in early.stderr
            assert "1 values are sealed with key id 'k1'" in early.stderr
            assert "GROWTHLOOP_PII_KEYS" in early.stderr
            port = free_port()
            refused = subprocess.run(  # noqa: S603
                [str(BIN), "serve", "--port", str(port)],
                env=_env(tmp_path, K2),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert refused.returncode != 0
            assert "1 values are sealed with key id 'k1', which is not in GROWTHLOOP_PII_KEYS" in (
                refused.stderr
            )

            done = cli(tmp_path, both, "compliance", "rotate-keys")
            assert done.returncode == 0, done.stderr
            assert done.stderr == ""
            assert json.loads(done.stdout)["columns"]["members.nickname"] == {
                "rotated": 1,
                "sealed": 0,
                "current": 0,
            }
            r = httpx.get(f"{base}/v1/me", headers=member)
            assert (r.status_code, r.json()["nickname"]) == (200, NICKNAME)
            assert proc.poll() is None
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert worker.returncode == 0, worker.stderr.read() if worker.stderr else ""
    assert _query(tmp_path, "SELECT count(*) FROM process_heartbeats") == [(0,)]

    code, status = _status(tmp_path, K2)  # k1 is no longer used: retire it
    assert code == 0, status
    assert (status["data"], status["processes"], status["unused_key_ids"]) == (
        {"k2": 1},
        [],
        ["k0"],
    )
    with serving(tmp_path, K2) as (_, base):
        r = httpx.get(f"{base}/v1/me", headers=member)
        assert (r.status_code, r.json()["nickname"]) == (200, NICKNAME)


def _heartbeat(data_dir: Path, pid: int, key_ids: list[str], seen: timedelta) -> None:
    ring = crypto.key_ring(f"{K1},{K2}", DEV_SECRET)
    checks = {kid: ring.checks[kid] for kid in key_ids if kid in ring.checks}
    last_seen = (datetime.now(UTC) - seen).replace(tzinfo=None).isoformat(" ")
    _query(
        data_dir,
        "INSERT INTO process_heartbeats (id, role, host, pid, started_at, key_ids, key_checks, "
        "last_seen) VALUES (?, 'serve', 'other-host', ?, ?, ?, ?, ?)",
        f"other-host:{pid}:1",
        pid,
        last_seen,
        json.dumps(key_ids),
        json.dumps(checks),
        last_seen,
    )


def test_stale_heartbeats_are_ignored_and_the_new_key_must_be_every_process_newest(
    tmp_path: Path,
) -> None:
    assert cli(tmp_path, None, "migrate").returncode == 0
    _heartbeat(tmp_path, 41, ["k0"], timedelta(seconds=5))  # live, without k2
    refused = cli(tmp_path, f"{K1},{K2}", "compliance", "rotate-keys")
    assert refused.returncode == 1
    assert "serve other-host pid 41" in refused.stderr and "lacks key id 'k2'" in refused.stderr

    # The same process, silent for more than three heartbeats: it died; it is ignored.
    _query(tmp_path, "DELETE FROM process_heartbeats")
    _heartbeat(tmp_path, 41, ["k0"], timedelta(seconds=95))
    code, status = _status(tmp_path, f"{K1},{K2}")
    assert (code, status["processes"], status["stale_processes"]) == (0, [], 1)
    done = cli(tmp_path, f"{K1},{K2}", "compliance", "rotate-keys")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["key_id"] == "k2"

    # A live process that holds k2 but seals with k1: k2 is not the newest key of the set.
    _heartbeat(tmp_path, 42, ["k0", "k2", "k1"], timedelta(seconds=0))
    refused = cli(tmp_path, f"{K1},{K2}", "compliance", "rotate-keys")
    assert refused.returncode == 1
    assert "pid 42" in refused.stderr
    assert "seals new values with key id 'k1', not 'k2'" in refused.stderr
    assert "pid 41" not in refused.stderr  # the dead one still counts for nothing


@pytest.fixture
def keep_ring() -> Iterator[None]:
    saved = crypto._ring
    yield
    crypto._ring = saved


@pytest.mark.parametrize("when", ["part-way", "at the end"])
def test_a_process_starting_during_the_rotation_stops_it(
    tmp_path: Path, keep_ring: None, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """rotate-keys checks the live processes again before each batch and at the end."""
    assert cli(tmp_path, None, "migrate").returncode == 0
    derived = crypto.key_ring(None, DEV_SECRET)
    _query(
        tmp_path,
        "INSERT INTO merchants (id, name, timezone, ingest_key, created_at) "
        "VALUES ('M1', '茶', 'Asia/Shanghai', 'ik1', '2026-01-01 00:00:00')",
    )
    for i in range(3):
        _query(
            tmp_path,
            "INSERT INTO members (id, merchant_id, status, signup_platform, created_at, "
            "nickname) VALUES (?, 'M1', 'active', 'dev', '2026-01-01 00:00:00', ?)",
            f"U{i}",
            derived.encrypt(f"{NICKNAME}{i}", "members.nickname"),
        )
    real_rotate, real_check = crypto.rotate_keys, processes.rotation_check
    finished = False

    async def rotate(*args: Any, **kwargs: Any) -> dict[str, dict[str, int]]:
        nonlocal finished
        counts = await real_rotate(*args, **kwargs)
        finished = True
        return counts

    async def check(db: Any, ring: crypto.KeyRing) -> list[str]:
        """A process without k1 shows up after the first value is rotated, or at the end."""
        rotated = _query(tmp_path, "SELECT count(*) FROM members WHERE nickname LIKE 'enc:v1:k1:%'")
        started = finished if when == "at the end" else rotated[0][0] >= 1
        return (
            ["serve other-host pid 7 lacks key id 'k1'"] if started else await real_check(db, ring)
        )

    monkeypatch.setattr(crypto, "rotate_keys", rotate)
    monkeypatch.setattr(processes, "rotation_check", check)
    env = _env(tmp_path, K1)
    result = CliRunner().invoke(
        app, ["compliance", "rotate-keys", "--batch-size", "1"], env=env, catch_exceptions=False
    )
    assert result.exit_code == 1
    rotated = _query(tmp_path, "SELECT count(*) FROM members WHERE nickname LIKE 'enc:v1:k1:%'")
    if when == "part-way":
        assert result.output.startswith("stopped part-way: a process without the key started:\n")
        assert rotated == [(1,)]
    else:
        assert result.output.startswith(
            "rotated everything, but meanwhile a process without the key started:\n"
        )
        assert rotated == [(3,)]
    assert "  - serve other-host pid 7 lacks key id 'k1'\n" in result.output
