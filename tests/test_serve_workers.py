"""`growthloop serve --workers N`: several API processes on one port that share one truth
(Redis for rate limits, the menu cache and campaign stock), one sweeper among them, and a
refusal, before any work, of settings under which they could not agree."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import BIN, free_port, shell_env

REDIS_URL = os.environ.get("GROWTHLOOP_TEST_REDIS_URL")


def _env(data_dir: Path, **settings: str) -> dict[str, str]:
    named = {f"GROWTHLOOP_{k.upper()}": v for k, v in settings.items()}
    return shell_env(data_dir, GROWTHLOOP_LOG_FORMAT="json", **named)


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({}, "needs Redis (set GROWTHLOOP_REDIS_URL)"),
        (
            {"redis_url": "redis://127.0.0.1:6379/15", "stock_backend": "memory"},
            "cannot keep campaign stock in memory",
        ),
    ],
)
def test_workers_that_could_not_agree_are_refused_before_any_work(
    tmp_path: Path, settings: dict[str, str], says: str
) -> None:
    out = subprocess.run(  # noqa: S603
        [str(BIN), "serve", "--port", str(free_port()), "--workers", "2"],
        env=_env(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert says in out.stderr
    assert not (tmp_path / "growthloop.db").exists()  # nothing migrated


@pytest.mark.skipif(REDIS_URL is None, reason="needs GROWTHLOOP_TEST_REDIS_URL")
def test_two_workers_serve_one_port_and_one_of_them_sweeps(tmp_path: Path) -> None:
    assert REDIS_URL is not None
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = _env(
        tmp_path / "data",
        redis_url=REDIS_URL,
        redis_prefix=f"gltest:workers:{os.getpid()}:",
        sweep_interval_seconds="0.5",
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603
            [str(BIN), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        sweepers: list[str] = []
        while time.monotonic() < deadline:
            sweepers = [x for x in log_path.read_text().splitlines() if "this process sweeps" in x]
            serving = log_path.read_text().count("Application startup complete")
            if sweepers and serving >= 2:
                break
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.3)
        assert len(sweepers) == 1, log_path.read_text()
        r = httpx.get(f"{base}/readyz", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": "ok", "events": "ok", "redis": "ok"}

        # The sweeping worker is killed: another takes the sweeper over.
        pid = int(sweepers[0].split('"pid": ')[1].split(",")[0].rstrip("}"))
        os.kill(pid, signal.SIGKILL)
        while time.monotonic() < deadline:
            lines = [x for x in log_path.read_text().splitlines() if "this process sweeps" in x]
            if len(lines) == 2:
                break
            time.sleep(0.3)
        assert len(lines) == 2, log_path.read_text()
        assert str(pid) not in lines[1]
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
