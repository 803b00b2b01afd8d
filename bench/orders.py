"""Orders created and paid per second through the HTTP API, on SQLite and PostgreSQL.

Each backend gets a fresh data dir (and, for PostgreSQL, a fresh database), a merchant
bootstrapped with the CLI, and its own `growthloop serve` subprocess. N concurrent clients
then loop create order -> pay (sandbox) -> sandbox succeed for a fixed time, over the
harness's lean keep-alive client (httpx spent more CPU per request than the server's
cheapest answers: on two cores the client set the pace). A GET /healthz
baseline with the same clients gives the server's raw HTTP ceiling on this machine, so the
ratio orders/s ÷ healthz req/s can be compared across noisy runs.

This script prints figures; it never asserts timings.

    .venv/bin/python bench/orders.py [--seconds 20] [--clients 50] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    LeanClient,
    base_env,
    create_merchant,
    error_lines,
    expect,
    free_port,
    percentile,
    pg_drop,
    pg_reset,
    process_cpu_seconds,
    start_server,
    stop_server,
    wait_healthy,
)

PG_DB = "growthloop_bench"
PG_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
INITIAL_STOCK = 10_000_000  # the schema's maximum; far more than any run can sell
WARMUP_SECONDS = 2.0
BASELINE_SECONDS = 5.0
HTTP_TIMEOUT = 60.0


@dataclass
class Tally:
    """What the clients saw, shared by all of them (asyncio: no locking needed)."""

    cycles: int = 0  # completed create+pay cycles inside the measured window
    latencies_ms: list[float] = field(default_factory=list)
    orders_created: int = 0  # every 201 from POST /v1/orders, warm-up included
    errors: Counter[str] = field(default_factory=Counter)  # "step status" -> count
    step_ms: dict[str, list[float]] = field(default_factory=dict)  # step -> latencies

    def took(self, step: str, since: float) -> None:
        self.step_ms.setdefault(step, []).append((time.monotonic() - since) * 1000)


@dataclass
class Result:
    backend: str
    seconds: float
    cycles: int
    latencies_ms: list[float]
    errors: Counter[str]
    healthz_rps: float
    healthz_errors: Counter[str]
    cpu_seconds: float  # the server's user + system CPU over the measured window
    step_ms: dict[str, list[float]]
    stock_before: int
    stock_after: int | None
    orders_created: int
    error_log_lines: list[str]

    @property
    def orders_per_s(self) -> float:
        return self.cycles / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_cycle(self) -> float:
        return self.cpu_seconds * 1000 / self.cycles if self.cycles else float("nan")


# --- environment: processes, ports, databases ---------------------------------------------


# --- API calls ------------------------------------------------------------------------------


async def setup_shop(
    client: httpx.AsyncClient, merchant_id: str, members: int
) -> tuple[str, str, list[str]]:
    """Admin login, one product with large stock, `members` logged-in members."""
    admin = expect(
        await client.post(
            "/v1/admin/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ),
        "admin login",
    )["token"]
    product = expect(
        await client.post(
            "/v1/admin/products",
            json={"name": "Bench tea", "price": 1800, "stock": INITIAL_STOCK},
            headers={"Authorization": f"Bearer {admin}"},
        ),
        "create product",
    )
    tokens = []
    for i in range(members):
        body = {"merchant_id": merchant_id, "platform": "dev", "code": f"bench-member-{i}"}
        tokens.append(expect(await client.post("/v1/auth/login", json=body), "login")["token"])
    return admin, str(product["id"]), tokens


async def read_stock(client: httpx.AsyncClient, admin: str, product_id: str) -> int:
    resp = await client.get(
        f"/v1/admin/products/{product_id}", headers={"Authorization": f"Bearer {admin}"}
    )
    return int(expect(resp, "read product")["stock"])


# --- load -----------------------------------------------------------------------------------


async def order_cycle(client: LeanClient, token: str, product_id: str, tally: Tally) -> bool:
    """Create -> pay -> sandbox succeed. False (and the error tallied) on any non-2xx."""
    auth = {"Authorization": f"Bearer {token}"}
    body = {"items": [{"product_id": product_id, "quantity": 1}]}
    began = time.monotonic()
    resp = await client.post("/v1/orders", json=body, headers=auth)
    tally.took("create", began)
    if not resp.is_success:
        tally.errors[f"create {resp.status_code}"] += 1
        return False
    tally.orders_created += 1
    order_id = resp.json()["id"]
    began = time.monotonic()
    resp = await client.post(
        f"/v1/orders/{order_id}/pay", json={"provider": "sandbox"}, headers=auth
    )
    tally.took("pay", began)
    if not resp.is_success:
        tally.errors[f"pay {resp.status_code}"] += 1
        return False
    payment_id = resp.json()["payment_id"]
    began = time.monotonic()
    resp = await client.post(f"/v1/payments/sandbox/{payment_id}/succeed")
    tally.took("succeed", began)
    if not resp.is_success:
        tally.errors[f"succeed {resp.status_code}"] += 1
        return False
    return True


async def order_worker(
    client: LeanClient,
    token: str,
    product_id: str,
    tally: Tally,
    measure_from: float,
    stop_at: float,
) -> None:
    # A cycle counts when it both starts and ends inside [measure_from, stop_at].
    while (start := time.monotonic()) < stop_at:
        try:
            ok = await order_cycle(client, token, product_id, tally)
        except httpx.HTTPError as exc:
            tally.errors[type(exc).__name__] += 1
            continue
        end = time.monotonic()
        if ok and start >= measure_from and end <= stop_at:
            tally.cycles += 1
            tally.latencies_ms.append((end - start) * 1000)


async def healthz_worker(
    client: LeanClient,
    measure_from: float,
    stop_at: float,
    done: list[int],
    errors: Counter[str],
) -> None:
    while (start := time.monotonic()) < stop_at:
        try:
            resp = await client.get("/healthz")
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1
            continue
        if not resp.is_success:
            errors[f"healthz {resp.status_code}"] += 1
        elif start >= measure_from and time.monotonic() <= stop_at:
            done[0] += 1


async def run_healthz(client: LeanClient, clients: int) -> tuple[float, Counter[str]]:
    now = time.monotonic()
    measure_from, stop_at = now + 1.0, now + 1.0 + BASELINE_SECONDS
    done, errors = [0], Counter[str]()
    await asyncio.gather(
        *(healthz_worker(client, measure_from, stop_at, done, errors) for _ in range(clients))
    )
    return done[0] / BASELINE_SECONDS, errors


async def run_orders(
    client: LeanClient, tokens: list[str], product_id: str, seconds: float, server_pid: int
) -> tuple[Tally, float]:
    """The tally and the server's CPU seconds over the measured window."""
    tally = Tally()
    now = time.monotonic()
    measure_from, stop_at = now + WARMUP_SECONDS, now + WARMUP_SECONDS + seconds

    async def cpu_over_window() -> float:
        await asyncio.sleep(measure_from - time.monotonic())
        before = process_cpu_seconds(server_pid)
        await asyncio.sleep(stop_at - time.monotonic())
        return process_cpu_seconds(server_pid) - before

    cpu = asyncio.create_task(cpu_over_window())
    await asyncio.gather(
        *(order_worker(client, t, product_id, tally, measure_from, stop_at) for t in tokens)
    )
    return tally, await cpu


# --- one backend ----------------------------------------------------------------------------


async def bench_backend(backend: str, seconds: float, clients: int) -> Result | str:
    """Run the whole benchmark against one backend; a string says why it was skipped."""
    database_url: str | None = None
    if backend == "postgres":
        why = await pg_reset(PG_DB)
        if why:
            return f"PostgreSQL unreachable at 127.0.0.1:5432 ({why}); skipped"
        database_url = PG_URL

    with tempfile.TemporaryDirectory(prefix=f"growthloop-bench-{backend}-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        env = base_env(data_dir, database_url)
        merchant = await asyncio.to_thread(create_merchant, env)

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server_env = env | {
            "GROWTHLOOP_DEV_LOGIN": "1",
            "GROWTHLOOP_SANDBOX": "1",
            "GROWTHLOOP_LOG_LEVEL": "WARNING",
        }
        log_path = Path(tmp) / "server.log"
        proc = start_server(port, server_env, log_path)
        try:
            await wait_healthy(base_url, proc, within_s=60)
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            async with httpx.AsyncClient(
                base_url=base_url, limits=limits, timeout=HTTP_TIMEOUT
            ) as client:
                admin, product_id, tokens = await setup_shop(
                    client, merchant["merchant_id"], clients
                )
                stock_before = await read_stock(client, admin, product_id)
                print(f"[{backend}] healthz baseline ({BASELINE_SECONDS:.0f}s)...", flush=True)
                lean = LeanClient(base_url)
                healthz_rps, healthz_errors = await run_healthz(lean, clients)
                print(
                    f"[{backend}] orders ({WARMUP_SECONDS:.0f}s warm-up + {seconds:.0f}s)...",
                    flush=True,
                )
                tally, cpu_seconds = await run_orders(lean, tokens, product_id, seconds, proc.pid)
                await lean.aclose()
                try:
                    stock_after: int | None = await read_stock(client, admin, product_id)
                except (RuntimeError, httpx.HTTPError) as exc:
                    print(f"[{backend}] could not read stock after the run: {exc}")
                    stock_after = None
        finally:
            stop_server(proc)
            if backend == "postgres":
                await pg_drop(PG_DB)
        return Result(
            backend=backend,
            seconds=seconds,
            cycles=tally.cycles,
            latencies_ms=tally.latencies_ms,
            errors=tally.errors,
            healthz_rps=healthz_rps,
            healthz_errors=healthz_errors,
            cpu_seconds=cpu_seconds,
            step_ms=tally.step_ms,
            stock_before=stock_before,
            stock_after=stock_after,
            orders_created=tally.orders_created,
            error_log_lines=error_lines(log_path),
        )


# --- report ---------------------------------------------------------------------------------


def print_report(results: list[Result], clients: int) -> None:
    header = (
        f"{'backend':<9}{'secs':>6}{'orders':>9}{'orders/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'errors':>8}{'healthz/s':>11}{'ratio':>8}{'cpu ms/cycle':>14}"
    )
    print()
    print(
        f"nproc: {len(os.sched_getaffinity(0))}   clients: {clients}   "
        f"warm-up: {WARMUP_SECONDS:.0f}s   healthz baseline: {BASELINE_SECONDS:.0f}s"
    )
    print("orders = create + pay + sandbox succeed cycles completed in the measured window")
    print("errors = non-2xx responses and transport errors, warm-up included")
    print("ratio  = orders/s ÷ healthz req/s")
    print("cpu ms/cycle = the server's user + system CPU over the measured window ÷ cycles")
    print(header)
    print("-" * len(header))
    for r in results:
        lat = sorted(r.latencies_ms)
        ratio = r.orders_per_s / r.healthz_rps if r.healthz_rps else float("nan")
        print(
            f"{r.backend:<9}{r.seconds:>6.0f}{r.cycles:>9}{r.orders_per_s:>10.1f}"
            f"{percentile(lat, 50):>9.1f}{percentile(lat, 95):>9.1f}{percentile(lat, 99):>9.1f}"
            f"{sum(r.errors.values()):>8}{r.healthz_rps:>11.1f}{ratio:>8.3f}"
            f"{r.cpu_ms_per_cycle:>14.2f}"
        )
    print()
    for r in results:
        if r.stock_after is None:
            check = "UNKNOWN (stock not readable)"
        else:
            sold = r.stock_before - r.stock_after
            verdict = "OK" if sold == r.orders_created else "MISMATCH"
            check = f"{verdict}: stock down by {sold}, orders created {r.orders_created}"
        print(f"[{r.backend}] stock check: {check}")
        steps = ", ".join(
            f"{step} {percentile(sorted(ms), 50):.1f}" for step, ms in r.step_ms.items()
        )
        print(f"[{r.backend}] p50 ms per request: {steps}")
        if r.errors:
            print(f"[{r.backend}] order errors: {dict(r.errors.most_common())}")
        if r.healthz_errors:
            print(f"[{r.backend}] healthz errors: {dict(r.healthz_errors.most_common())}")
        print(f"[{r.backend}] server error log lines: {len(r.error_log_lines)}")
        for line in r.error_log_lines[:5]:
            print(f"    {line[:500]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per backend")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated list")
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.seconds <= 0 or args.clients <= 0:
        parser.error("--seconds and --clients must be positive")
    return args


async def main() -> None:
    args = parse_args()
    results: list[Result] = []
    for backend in args.backends:
        outcome = await bench_backend(backend, args.seconds, args.clients)
        if isinstance(outcome, str):
            print(f"[{backend}] {outcome}")
        else:
            results.append(outcome)
    if results:
        print_report(results, args.clients)


if __name__ == "__main__":
    asyncio.run(main())
