"""What the tests that start growthloop's own processes share: the installed command, a
free port, and the environment of a person at a shell."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "growthloop"
_MAKE = frozenset({"MAKELEVEL", "MAKEFLAGS", "MFLAGS"})


def shell_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without GROWTHLOOP_ settings, as if not under make, with the data
    dir and `extra` (whole variable names: GROWTHLOOP_LOG_LEVEL="WARNING", TERM="dumb")."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("GROWTHLOOP_") and k not in _MAKE
    }
    env.update(GROWTHLOOP_DATA_DIR=str(data_dir), **extra)
    return env


def run_cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`growthloop ARGS` run to its end, in `env` (by default `shell_env(data_dir)`)."""
    return subprocess.run(  # noqa: S603
        [str(BIN), *args],
        env=shell_env(data_dir) if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
