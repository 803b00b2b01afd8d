"""What the benchmarks share: the server process, the PostgreSQL bench databases, the API
helpers and the statistics. Imported as `harness` (the scripts run from this folder)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent / "growthloop"
PG_DSN_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_EMAIL = "bench@x.test"
ADMIN_PASSWORD = "bench-password"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(p / 100 * len(sorted_values) + 0.5 - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_url(db_name: str) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db_name}"


async def pg_admin(*statements: str) -> str | None:
    """Run statements on the `postgres` database; returns why not if unreachable."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed"
    try:
        conn = await asyncpg.connect(PG_DSN_ADMIN, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()
    return None


async def pg_version() -> str:
    try:
        import asyncpg

        conn = await asyncpg.connect(PG_DSN_ADMIN, timeout=5)
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def pg_reset(db_name: str) -> str | None:
    """Drop and create a bench database; returns why not if the server is unreachable."""
    return await pg_admin(
        f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)', f'CREATE DATABASE "{db_name}"'
    )


async def pg_drop(*db_names: str) -> None:
    with contextlib.suppress(Exception):
        await pg_admin(*(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in db_names))


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """The inherited environment minus any GROWTHLOOP_* setting, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROWTHLOOP_")}
    env["GROWTHLOOP_DATA_DIR"] = str(data_dir)
    if database_url:
        env["GROWTHLOOP_DATABASE_URL"] = database_url
    return env


def create_merchant(env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run(
        [
            str(BIN),
            "merchant",
            "create",
            "--name",
            "Bench",
            "--admin-email",
            ADMIN_EMAIL,
            "--admin-password",
            ADMIN_PASSWORD,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"merchant create failed ({out.returncode}): {out.stderr.strip()}")
    last = [line for line in out.stdout.splitlines() if line.strip()][-1]
    data: dict[str, str] = json.loads(last)
    return data


async def wait_healthy(base_url: str, proc: subprocess.Popen[bytes], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early with code {proc.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"server not healthy after {within_s:.0f}s")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children (the workers of `--workers`)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid, *children(pid)]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = [int(c) for c in found]
    for c in list(out):
        out += children(c)
    return out


def start_server(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`growthloop serve` in the background, stdout and stderr (JSON logs) to `log_path`."""
    with log_path.open("wb") as out:
        return subprocess.Popen(
            [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def error_lines(log_path: Path) -> list[str]:
    """Server log lines at level error/critical (the server logs JSON to stderr)."""
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            level = str(json.loads(line).get("level", "")).lower()
        except (ValueError, AttributeError):
            level = "error" if "Traceback" in line or "ERROR" in line else ""
        if level in {"error", "critical"}:
            found.append(line)
    return found


async def admin_login(client: httpx.AsyncClient) -> str:
    """The bench merchant's owner token (see create_merchant)."""
    body = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    return str(expect(await client.post("/v1/admin/login", json=body), "admin login")["token"])


async def login_members(
    client: httpx.AsyncClient, merchant_id: str, members: int, *, prefix: str, in_flight: int
) -> list[str]:
    """`members` member tokens through the dev login (codes `<prefix>-<i>`), `in_flight`
    logins at a time."""
    tokens: list[str] = [""] * members
    queue = list(range(members))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            body = {"merchant_id": merchant_id, "platform": "dev", "code": f"{prefix}-{i}"}
            tokens[i] = expect(await client.post("/v1/auth/login", json=body), "login")["token"]

    await asyncio.gather(*(worker() for _ in range(min(in_flight, members))))
    return tokens


def expect(resp: httpx.Response, what: str) -> dict[str, Any]:
    if not resp.is_success:
        raise RuntimeError(f"{what}: HTTP {resp.status_code} {resp.text[:300]}")
    body: dict[str, Any] = resp.json()
    return body


# --- a lean HTTP/1.1 client -------------------------------------------------------------------


class LeanResponse:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.content = body

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class LeanClient:
    """Keep-alive HTTP/1.1 over asyncio streams, a connection per request in flight: the
    load generator of the order cycles, at a tenth of httpx's CPU per request, so that on a
    small machine the server, not the client, sets the pace. Transport failures raise
    httpx.TransportError subclasses, as httpx would."""

    def __init__(self, base_url: str) -> None:
        url = httpx.URL(base_url)
        self.host, self.port = url.host, url.port or 80
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> LeanResponse:
        body = b"" if json_body is None else json.dumps(json_body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if json_body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        conn = self._idle.pop() if self._idle else None
        if conn is None:
            try:
                conn = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                raise httpx.ConnectError(str(exc)) from exc
        reader, writer = conn
        try:
            writer.write(data)
            status, length, chunked, close = await self._read_head(reader)
            payload = await self._read_body(reader, length, chunked)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            writer.close()
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc
        if close:
            writer.close()
        else:
            self._idle.append(conn)
        return LeanResponse(status, payload)

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> tuple[int, int, bool, bool]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = value == "close"
        return status, length, chunked, close

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, length: int, chunked: bool) -> bytes:
        if not chunked:
            return await reader.readexactly(length) if length else b""
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        return b"".join(parts)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> LeanResponse:
        return await self.request("GET", path, headers=headers)

    async def post(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> LeanResponse:
        return await self.request("POST", path, json_body=json, headers=headers)

    async def aclose(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
