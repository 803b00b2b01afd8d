"""Requests per second of growthloop's hot paths next to a bare Starlette app, driven by wrk.

The same machine, the same run, the same load generator: Debian's `wrk` (installed with
apt-get when missing) with `-t2 -c100` against

- the bare app (`bench/bare_app.py`: one route, a small JSON body, uvicorn with uvloop and
  httptools, exactly as `growthloop serve` runs), GET and POST;
- `growthloop serve` on a fresh data dir, per configuration: SQLite with the in-process
  stock backend (`sqlite-memory`), PostgreSQL with Redis (`postgres-redis`).

The paths, each for `--seconds`:

| row | request | what growthloop answers |
| --- | --- | --- |
| healthz | GET /healthz | liveness: `{"status": "ok"}` |
| sold_out | POST /v1/flash-sales/{id}/purchase | 409 sold_out (a sale of 1 unit, bought) |
| limit_reached | same | 409 limit_reached (every member bought their 1) |
| not_started | same | 409 not_started (the sale starts in an hour) |
| rate_limited | same | 429 rate_limited (a server restarted with 1 attempt a member per 10 s) |
| products | GET /v1/products?merchant_id= | 200, a page of one product |

In the rate-limited row a member this process remembers at their limit is answered 409.
Member requests rotate over `--members` tokens (Lua, per request), as a crowd would send
them. ratio = growthloop req/s ÷ bare req/s of the same method measured in the same run.
`cpu ms/req` is the server processes' user+system CPU over the run ÷ requests answered:
what one request costs, whatever the load generator got.

This script prints figures; it never asserts timings.

    .venv/bin/python bench/http_paths.py [--seconds 10] [--connections 100] [--members 200]
        [--configs sqlite-memory,postgres-redis] [--workers 1] [--rows healthz,sold_out,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from harness import (
    admin_login,
    base_env,
    create_merchant,
    error_lines,
    expect,
    free_port,
    load_average,
    login_members,
    pg_drop,
    pg_reset,
    pg_url,
    process_cpu_seconds,
    stop_server,
    wait_healthy,
)

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/13"  # the benches' own database number
PG_DB = "growthloop_bench_http"
CONFIGS = {
    "sqlite-memory": ("sqlite", "memory"),
    "postgres-redis": ("postgres", "redis"),
}
ROWS = ("healthz", "sold_out", "limit_reached", "not_started", "rate_limited", "products")
LOGIN_IN_FLIGHT = 20

# One wrk script for every row: the method, path, body and tokens are filled in per row.
# Each thread counts the statuses it saw; done() prints one JSON line with the totals.
LUA = textwrap.dedent(
    """
    local method, path, body = %(method)s, %(path)s, %(body)s
    local tokens = {}
    for line in io.lines(%(tokens)s) do tokens[#tokens + 1] = line end
    local threads, n = {}, 0
    statuses = {}

    function setup(thread)
      table.insert(threads, thread)
      thread:set("offset", #threads * 7919)
    end

    function init(args)
      n = offset or 0
    end

    function request()
      n = n + 1
      local headers = {["Content-Type"] = "application/json"}
      if #tokens > 0 then
        headers["Authorization"] = "Bearer " .. tokens[(n %% #tokens) + 1]
      end
      return wrk.format(method, path, headers, body)
    end

    function response(status, headers, body)
      statuses[status] = (statuses[status] or 0) + 1
    end

    function done(summary, latency, requests)
      local total = {}
      for _, thread in ipairs(threads) do
        for status, count in pairs(thread:get("statuses")) do
          total[tostring(status)] = (total[tostring(status)] or 0) + count
        end
      end
      local parts = {}
      for status, count in pairs(total) do
        parts[#parts + 1] = string.format('"%%s": %%d', status, count)
      end
      local e = summary.errors
      io.write(string.format(
        'WRK {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
        '"socket_errors": %%d, "statuses": {%%s}}\\n',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.connect + e.read + e.write + e.timeout, table.concat(parts, ", ")))
    end
    """
)


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


@dataclass
class Figure:
    """One row measured against one server."""

    rate: float = 0.0  # requests answered per second
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_ms: float = float("nan")  # server CPU per request
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: int = 0

    def summary(self) -> str:
        codes = ", ".join(f"{k}×{v:,}" for k, v in sorted(self.statuses.items()))
        errors = f", socket errors {self.socket_errors:,}" if self.socket_errors else ""
        return f"{codes}{errors}"


@dataclass
class Target:
    """Where wrk sends one row: the URL, method, body and the tokens to rotate."""

    method: str
    url: str
    body: str = ""
    tokens: list[str] = field(default_factory=list)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk ...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


def run_wrk(wrk: str, target: Target, args: argparse.Namespace, server_pid: int) -> Figure:
    with tempfile.TemporaryDirectory(prefix="growthloop-bench-wrk-") as tmp:
        tokens_path = Path(tmp) / "tokens.txt"
        tokens_path.write_text("".join(f"{t}\n" for t in target.tokens))
        script = Path(tmp) / "row.lua"
        script.write_text(
            LUA
            % {
                "method": lua_string(target.method),
                "path": lua_string(httpx.URL(target.url).raw_path.decode()),
                "body": lua_string(target.body) if target.body else "nil",
                "tokens": lua_string(str(tokens_path)),
            }
        )
        origin = str(httpx.URL(target.url).copy_with(path="/", query=None))
        command = [
            wrk,
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            origin,
        ]
        spy = start_profiler(server_pid, args, Path(tmp) / "profile.txt") if args.profile else None
        cpu_before = process_cpu_seconds(server_pid)
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        cpu_after = process_cpu_seconds(server_pid)
        if spy is not None:
            spy.wait(timeout=60)
            print_profile(Path(tmp) / "profile.txt", args.profile_top)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no figures: {out.stdout[-500:]} {out.stderr[-500:]}")
    data = json.loads(line[4:])
    seconds = data["duration_us"] / 1e6
    figure = Figure(
        rate=data["requests"] / seconds,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        statuses={str(k): int(v) for k, v in data["statuses"].items()},
        socket_errors=int(data["socket_errors"]),
    )
    if data["requests"]:
        figure.cpu_ms = (cpu_after - cpu_before) * 1000 / data["requests"]
    return figure


def start_profiler(pid: int, args: argparse.Namespace, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on the server (and its workers) for the run, as collapsed stacks."""
    spy = shutil.which("py-spy") or str(BIN / "py-spy")
    command = [spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    # --gil: only the thread holding the interpreter, i.e. where Python spends CPU.
    command += ["--duration", str(args.seconds), "--rate", "100", "--subprocesses"]
    command += ["--nonblocking", "--gil"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_profile(path: Path, top: int) -> None:
    """The functions the server spent its samples in: inclusive (on the stack) and self
    (the innermost frame), as shares of all samples, the heaviest first."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    frame_re = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")
    for line in path.read_text().splitlines() if path.exists() else []:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        names = []
        for frame in stack.split(";"):
            m = frame_re.match(frame)
            function, file = (m.group(1), m.group(2)) if m else (frame, "")
            names.append(f"{function} ({short_path(file)})")
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
    if not total:
        print("    (no profile samples: is py-spy allowed to attach?)")
        return
    print(f"    py-spy: {total:,} samples; inclusive% self%  function")
    for name, count in inclusive.most_common(top):
        print(f"    {100 * count / total:6.1f} {100 * own[name] / total:6.1f}  {name}")
    print("    heaviest self:")
    for name, count in own.most_common(top):
        print(f"    {100 * inclusive[name] / total:6.1f} {100 * count / total:6.1f}  {name}")


def short_path(file: str) -> str:
    """site-packages/sqlalchemy/orm/session.py -> sqlalchemy/orm/session.py."""
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return file


# --- the servers --------------------------------------------------------------------------


def start_bare(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as out:
        return subprocess.Popen(
            [
                str(BIN / "uvicorn"),
                "bare_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=HERE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_growthloop(
    port: int, env: dict[str, str], log_path: Path, workers: int
) -> subprocess.Popen[bytes]:
    command = [str(BIN / "growthloop"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers != 1:
        command += ["--workers", str(workers)]
    with log_path.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_bare(base_url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the bare app exited early")
            try:
                if (await client.get("/json")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the bare app did not start")


# --- growthloop's fixtures ----------------------------------------------------------------


@dataclass
class Shop:
    merchant_id: str
    tokens: list[str]
    sold_out: str  # sale ids
    limit_reached: str
    not_started: str


async def create_sale(
    client: httpx.AsyncClient, auth: dict[str, str], product_id: str, stock: int, start: datetime
) -> str:
    sale = expect(
        await client.post(
            "/v1/admin/flash-sales",
            json={
                "product_id": product_id,
                "price": 990,
                "stock": stock,
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=2)).isoformat(),
                "per_member_limit": 1,
            },
            headers=auth,
        ),
        "create flash sale",
    )
    return str(sale["id"])


async def build_shop(base_url: str, merchant_id: str, members: int) -> Shop:
    """One product; three sales: sold out, bought once by every member, not yet started."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        auth = {"Authorization": f"Bearer {await admin_login(client)}"}
        product = expect(
            await client.post(
                "/v1/admin/products",
                json={"name": "Bench oolong", "price": 1800, "stock": 100_000},
                headers=auth,
            ),
            "create product",
        )
        now = datetime.now(UTC)
        started = now - timedelta(minutes=1)
        sold_out = await create_sale(client, auth, product["id"], 1, started)
        limit = await create_sale(client, auth, product["id"], members + 1, started)
        later = await create_sale(client, auth, product["id"], 10, now + timedelta(hours=1))
        tokens = await login_members(
            client, merchant_id, members + 1, prefix="bench-http", in_flight=LOGIN_IN_FLIGHT
        )
        buyer, tokens = tokens[0], tokens[1:]

        async def buy(sale: str, token: str) -> None:
            resp = await client.post(
                f"/v1/flash-sales/{sale}/purchase",
                json={},
                headers={"Authorization": f"Bearer {token}"},
            )
            expect(resp, "purchase")

        await buy(sold_out, buyer)
        for chunk in range(0, len(tokens), LOGIN_IN_FLIGHT):
            await asyncio.gather(*(buy(limit, t) for t in tokens[chunk : chunk + LOGIN_IN_FLIGHT]))
    return Shop(merchant_id, tokens, sold_out, limit, later)


def growthloop_targets(base: str, shop: Shop) -> dict[str, Target]:
    def purchase(sale: str) -> Target:
        return Target("POST", f"{base}/v1/flash-sales/{sale}/purchase", "{}", shop.tokens)

    return {
        "healthz": Target("GET", f"{base}/healthz"),
        "sold_out": purchase(shop.sold_out),
        "limit_reached": purchase(shop.limit_reached),
        "not_started": purchase(shop.not_started),
        # The server is restarted with one attempt a member per 10 s for this row: the
        # first is refused for the member's limit (and so is every attempt while this
        # process remembers it), the rest for the rate.
        "rate_limited": purchase(shop.limit_reached),
        "products": Target("GET", f"{base}/v1/products?merchant_id={shop.merchant_id}"),
    }


# --- one configuration --------------------------------------------------------------------


def server_env(env: dict[str, str], store: str, per_member: int) -> dict[str, str]:
    out = env | {
        "GROWTHLOOP_DEV_LOGIN": "1",
        "GROWTHLOOP_SANDBOX": "1",
        "GROWTHLOOP_LOG_LEVEL": "WARNING",
        "GROWTHLOOP_STOCK_BACKEND": store,
        # Every bench request comes from 127.0.0.1: the per-address limit is lifted.
        "GROWTHLOOP_FLASH_SALE_ATTEMPTS_PER_IP": "1000000000",
        "GROWTHLOOP_FLASH_SALE_ATTEMPTS_PER_MEMBER": str(per_member),
    }
    if store == "redis":
        out["GROWTHLOOP_REDIS_URL"] = REDIS_URL
    return out


async def bench_config(
    config: str, wrk: str, args: argparse.Namespace
) -> tuple[dict[str, Figure], list[str]] | str:
    database, store = CONFIGS[config]
    database_url = None
    if database == "postgres":
        why = await pg_reset(PG_DB)
        if why:
            return f"PostgreSQL unreachable ({why}); skipped"
        database_url = pg_url(PG_DB)
    if store == "redis":
        import redis.asyncio as aioredis

        r = aioredis.from_url(REDIS_URL)
        try:
            await r.flushdb()
        except Exception as exc:
            return f"Redis unreachable at {REDIS_URL} ({type(exc).__name__}); skipped"
        finally:
            await r.aclose()

    figures: dict[str, Figure] = {}
    try:
        with tempfile.TemporaryDirectory(prefix=f"growthloop-bench-http-{config}-") as tmp:
            data_dir = Path(tmp) / "data"
            data_dir.mkdir()
            env = base_env(data_dir, database_url)
            merchant = await asyncio.to_thread(create_merchant, env)
            log_path = Path(tmp) / "server.log"
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            proc = start_growthloop(port, server_env(env, store, 10**9), log_path, args.workers)
            try:
                await wait_healthy(base, proc, within_s=90)
                print(f"[{config}] fixtures: {args.members} members, 3 sales...", flush=True)
                shop = await build_shop(base, merchant["merchant_id"], args.members)
                targets = growthloop_targets(base, shop)
                for row in args.rows:
                    if row == "rate_limited":
                        continue
                    figures[row] = await asyncio.to_thread(
                        run_wrk, wrk, targets[row], args, proc.pid
                    )
                    print(f"[{config}] {row}: {figures[row].rate:,.0f}/s", flush=True)
            finally:
                stop_server(proc)
            if "rate_limited" in args.rows:
                proc = start_growthloop(port, server_env(env, store, 1), log_path, args.workers)
                try:
                    await wait_healthy(base, proc, within_s=90)
                    figures["rate_limited"] = await asyncio.to_thread(
                        run_wrk, wrk, targets["rate_limited"], args, proc.pid
                    )
                    print(f"[{config}] rate_limited: {figures['rate_limited'].rate:,.0f}/s")
                finally:
                    stop_server(proc)
            errors = error_lines(log_path)
    finally:
        if database == "postgres":
            await pg_drop(PG_DB)
    return figures, errors


async def bench_bare(wrk: str, args: argparse.Namespace) -> dict[str, Figure]:
    with tempfile.TemporaryDirectory(prefix="growthloop-bench-bare-") as tmp:
        port = free_port()
        proc = start_bare(port, Path(tmp) / "bare.log")
        try:
            await wait_bare(f"http://127.0.0.1:{port}", proc)
            url = f"http://127.0.0.1:{port}/json"
            out = {}
            plain = argparse.Namespace(**(vars(args) | {"profile": False}))
            for method in ("GET", "POST"):
                target = Target(method, url, "{}" if method == "POST" else "")
                out[method] = await asyncio.to_thread(run_wrk, wrk, target, plain, proc.pid)
                print(f"[bare] {method}: {out[method].rate:,.0f}/s", flush=True)
            return out
        finally:
            stop_server(proc)


# --- the report ---------------------------------------------------------------------------

EXPECTED = {
    "healthz": ("200",),
    "sold_out": ("409",),
    "limit_reached": ("409",),
    "not_started": ("409",),
    # A member this process saw at their limit a moment ago is answered 409 from memory,
    # before the rate limit is counted (pool.fast_check); the others 429.
    "rate_limited": ("429", "409"),
    "products": ("200",),
}


def print_report(
    bare: dict[str, Figure],
    results: dict[str, tuple[dict[str, Figure], list[str]] | str],
    args: argparse.Namespace,
) -> None:
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, "
        f"{args.members} member tokens rotated, growthloop workers: {args.workers}, "
        f"load average {load_average()}"
    )
    for method, fig in bare.items():
        print(
            f"bare Starlette {method}: {fig.rate:,.0f}/s  p50 {fig.p50_ms:.1f} ms  "
            f"p99 {fig.p99_ms:.1f} ms  cpu {fig.cpu_ms:.3f} ms/req  ({fig.summary()})"
        )
    header = (
        f"{'config':<15} {'row':<14} {'req/s':>9} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu ms/req':>10}  answers"
    )
    print()
    print(header)
    print("-" * len(header))
    for config, result in results.items():
        if isinstance(result, str):
            print(f"{config:<15} {result}")
            continue
        figures, errors = result
        for row, fig in figures.items():
            base = bare["GET" if row in ("healthz", "products") else "POST"].rate
            unexpected = sum(v for k, v in fig.statuses.items() if k not in EXPECTED[row])
            flag = f"  UNEXPECTED {unexpected:,}" if unexpected else ""
            print(
                f"{config:<15} {row:<14} {fig.rate:>9,.0f} {fig.rate / base:>6.2f} "
                f"{fig.p50_ms:>8.1f} {fig.p99_ms:>8.1f} {fig.cpu_ms:>10.3f}  "
                f"{fig.summary()}{flag}"
            )
        if errors:
            print(f"{config:<15} {len(errors)} error lines in the server log, e.g.:")
            for line in errors[:3]:
                print(f"    {line[:300]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--profile", action="store_true", help="py-spy each growthloop row")
    parser.add_argument("--profile-top", type=int, default=25)
    args = parser.parse_args()
    args.configs = [c for c in args.configs.split(",") if c]
    args.rows = [r for r in args.rows.split(",") if r]
    for name in args.configs:
        if name not in CONFIGS:
            parser.error(f"unknown config {name!r}; choose from {', '.join(CONFIGS)}")
    for name in args.rows:
        if name not in ROWS:
            parser.error(f"unknown row {name!r}; choose from {', '.join(ROWS)}")
    return args


async def main() -> None:
    args = parse_args()
    wrk = ensure_wrk()
    print(f"{os.cpu_count()} CPUs, load average {load_average()}", flush=True)
    bare = await bench_bare(wrk, args)
    results: dict[str, tuple[dict[str, Figure], list[str]] | str] = {}
    for config in args.configs:
        results[config] = await bench_config(config, wrk, args)
    print_report(bare, results, args)


if __name__ == "__main__":
    asyncio.run(main())
