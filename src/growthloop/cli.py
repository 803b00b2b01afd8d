"""The `growthloop` command. Every command migrates the configured database first."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import uvicorn

from growthloop.core.config import Settings
from growthloop.core.logs import configure_logging
from growthloop.migrate import upgrade
from growthloop.wiring import AppRuntime, build_runtime

app = typer.Typer(
    help="growthloop: the growth backend for mini-program merchants.", no_args_is_help=True
)
merchant_app = typer.Typer(help="Manage merchants.", no_args_is_help=True)
import_app = typer.Typer(help="Bulk-load historical data.", no_args_is_help=True)
compliance_app = typer.Typer(help="Privacy requests.", no_args_is_help=True)
app.add_typer(merchant_app, name="merchant")
app.add_typer(import_app, name="import")
app.add_typer(compliance_app, name="compliance")

Host = Annotated[str, typer.Option(help="Interface to listen on (`make run`: HOST=).")]
Port = Annotated[
    int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one (PORT=).")
]
T = TypeVar("T")
WORKER_HEALTHCHECK_SECONDS = 60


async def _prepared(settings: Settings) -> AppRuntime:
    rt = build_runtime(settings)
    await upgrade(rt.db.engine)
    return rt


def _suggest(option: str, value: object) -> str:
    """How to ask for another host or port: `PORT=8001 make run` under make, else the option."""
    if os.environ.get("MAKELEVEL"):
        return f"{option.upper()}={value} make run"
    return f"--{option} {value}"


def _free_port_after(family: socket.AddressFamily, host: str, port: int) -> int | None:
    for candidate in range(port + 1, min(port + 50, 65535) + 1):
        with socket.socket(family) as probe:
            try:
                probe.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return None


def _refuse(message: str) -> NoReturn:
    typer.echo(f"growthloop: {message}", err=True)
    raise typer.Exit(1)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is migrated, seeded or printed: a busy
    port fails at once with one line that says what to do, and the banner, printed once the
    application has started on it, is true. Exits 1 when it cannot listen."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        _refuse(
            f"cannot listen on {host!r}: not an address or a known host name; "
            f"try {_suggest('host', '127.0.0.1')}"
        )
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)  # uvicorn's default backlog
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            free = _free_port_after(family, host, port)
            hint = f"try {_suggest('port', free)}" if free else "choose another port"
            _refuse(f"port {port} is in use on {host} (is another server running?): {hint}")
        if exc.errno == errno.EACCES:
            _refuse(
                f"not allowed to listen on port {port} (ports below 1024 need privileges): "
                f"try {_suggest('port', 8000)}"
            )
        if exc.errno == errno.EADDRNOTAVAIL:
            _refuse(
                f"cannot listen on {host}: not an address of this machine; try "
                f"{_suggest('host', '127.0.0.1')} (this machine only) or "
                f"{_suggest('host', '0.0.0.0')} (every interface)"  # noqa: S104
            )
        _refuse(f"cannot listen on {host} port {port}: {exc.strerror or exc}")
    return sock


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):  # noqa: S104 - every interface: show this machine's address
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"  # noqa: S104
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """Prints the banner once the application has started on the bound socket."""

    def __init__(self, config: uvicorn.Config, banner: str) -> None:
        super().__init__(config)
        self.banner = banner

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            typer.echo(self.banner)


def _serve(settings: Settings, sock: socket.socket, banner: str) -> None:
    from growthloop.app import create_app

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        create_app(settings), host=host, port=port, log_config=None, access_log=False
    )
    try:
        _Server(config, banner).run(sockets=[sock])
    finally:
        sock.close()


def worker_app() -> Any:
    """The app of one of `serve --workers N`'s processes, built from the environment (each
    is a fresh interpreter: uvicorn spawns them)."""
    from growthloop.app import create_app

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def _serve_workers(sock: socket.socket, workers: int, banner: str) -> None:
    from uvicorn.supervisors import Multiprocess

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        "growthloop.cli:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # A worker answers the supervisor's health pings once it has imported the app; on
        # a loaded machine that takes longer than uvicorn's 5 s, and it would be restarted.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        log_config=None,
        access_log=False,
    )
    typer.echo(banner)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def _multi_process_problem(settings: Settings, workers: int) -> str | None:
    """Why `workers` processes cannot share one truth with these settings, if they cannot."""
    if workers == 1:
        return None
    if not settings.redis_url:
        return (
            f"--workers {workers} needs Redis (set GROWTHLOOP_REDIS_URL): the processes share "
            "rate limits, the menu cache and campaign stock through it; without Redis, "
            "serve with one worker"
        )
    if settings.stock_backend == "memory":
        return (
            f"--workers {workers} cannot keep campaign stock in memory (each process would "
            "sell its own units): unset GROWTHLOOP_STOCK_BACKEND (Redis is then used) or set "
            "it to redis or sql"
        )
    return None


def _start(prepare: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs the work before serving (migrations, seeding); Ctrl-C there stops quietly."""
    try:
        return asyncio.run(prepare())
    except KeyboardInterrupt:
        typer.echo("growthloop: interrupted", err=True)
        raise typer.Exit(130) from None


Workers = Annotated[
    int,
    typer.Option(
        min=1,
        max=64,
        help="API processes sharing the port (default 1, the embedded set-up). More than one "
        "needs Redis; about one per core.",
    ),
]


@app.command()
def serve(host: Host = "127.0.0.1", port: Port = 8000, workers: Workers = 1) -> None:
    """Migrate the configured database and serve the API (and the sweeper, by default)."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    problem = _multi_process_problem(settings, workers)
    if problem:
        _refuse(problem)
    sock = _listen(host, port)

    async def migrate_only() -> None:
        rt = await _prepared(settings)
        await rt.db.dispose()

    _start(migrate_only)
    base = _base_url(sock)
    if workers == 1:
        _serve(settings, sock, f"\n  growthloop: {base}   API docs: {base}/docs\n")
    else:
        banner = f"\n  growthloop: {base}   API docs: {base}/docs   ({workers} processes)\n"
        _serve_workers(sock, workers, banner)


@app.command()
def migrate() -> None:
    """Bring the configured database to the latest schema."""
    settings = Settings()

    async def run() -> int:
        rt = build_runtime(settings)
        try:
            return await upgrade(rt.db.engine)
        finally:
            await rt.db.dispose()

    applied = asyncio.run(run())
    suffix = f" ({applied} migration{'' if applied == 1 else 's'} applied)" if applied else ""
    typer.echo(f"database is up to date{suffix}")


@app.command()
def worker() -> None:
    """Run the sweeper (payment windows, refunds, outbox, purges) in this process alone."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)

    from growthloop.all_models import metadata
    from growthloop.core import processes

    async def run() -> None:
        rt = await _prepared(settings)
        try:
            # Records the PII keys this process holds; refuses to start without one in use.
            heartbeat = await processes.begin(rt.db, "worker", metadata)
            main = asyncio.current_task()
            assert main is not None
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
            try:
                await rt.sweeper.run_forever()
            finally:
                await heartbeat.stop()
        finally:
            await rt.db.dispose()

    try:
        asyncio.run(run())
    except processes.KeysUnavailable as exc:
        typer.echo(f"worker not started: {exc}", err=True)
        raise typer.Exit(1) from None
    except asyncio.CancelledError:  # SIGTERM: stopped cleanly
        pass


@app.command()
def demo(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Seed the demo tea shop 示例茶饮 into the data dir on first start, then serve it."""
    from growthloop.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_if_empty
    from growthloop.identity import service as identity

    settings = Settings(dev_login=True, sandbox=True)
    configure_logging(settings.log_level, settings.log_format)
    sock = _listen(host, port)

    async def seed() -> tuple[str, str]:
        rt = await _prepared(settings)
        try:
            merchant_id = await seed_if_empty(rt)
            async with rt.db.unit_of_work(write=False) as uow:
                merchant = await identity.get_merchant(uow.session, merchant_id)
                return merchant_id, merchant.ingest_key
        finally:
            await rt.db.dispose()

    merchant_id, ingest_key = _start(seed)
    base = _base_url(sock)
    command = Path(sys.argv[0])
    if command.is_absolute() and command.is_relative_to(Path.cwd()):
        command = command.relative_to(Path.cwd())
    _serve(
        settings,
        sock,
        f"\n  growthloop demo: {base}   API docs: {base}/docs\n"
        f"  operator login: {DEMO_EMAIL} / {DEMO_PASSWORD}   merchant id: {merchant_id}\n"
        f"  ingest key: {ingest_key}   (owners also read it at GET /v1/admin/me)\n"
        f"  command line: {command} --help   data: {settings.data_dir}/ (delete it to start"
        " over)\n",
    )


@merchant_app.command("create")
def merchant_create(
    name: Annotated[str, typer.Option(help="The merchant's name.")],
    admin_email: Annotated[str, typer.Option(help="The owner's sign-in email.")],
    admin_password: Annotated[str, typer.Option(help="The owner's password (8+ chars).")],
    timezone: Annotated[
        str, typer.Option(help="IANA timezone for daily reports.")
    ] = "Asia/Shanghai",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a merchant and its owner admin."""
    from growthloop.core.errors import AppError
    from growthloop.identity import service as identity

    if len(admin_password) < 8:
        raise typer.BadParameter(
            "the password needs at least 8 characters", param_hint="--admin-password"
        )
    settings = Settings()

    async def run() -> dict[str, str]:
        rt = await _prepared(settings)
        try:
            async with rt.db.unit_of_work() as uow:
                merchant, owner = await identity.create_merchant(
                    uow.session, name, admin_email, admin_password, rt.clock.now(), timezone
                )
                return {
                    "merchant_id": merchant.id,
                    "ingest_key": merchant.ingest_key,
                    "admin_email": owner.email,
                }
        finally:
            await rt.db.dispose()

    try:
        result = asyncio.run(run())
    except AppError as exc:
        typer.echo(
            json.dumps({"error": {"code": exc.code, "message": exc.detail_message}}), err=True
        )
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        typer.echo(f"merchant {result['merchant_id']} created; owner {result['admin_email']}")
        typer.echo(f"ingest key: {result['ingest_key']}")


@import_app.command("orders")
def import_orders(
    merchant: Annotated[str, typer.Option(help="The merchant's id.")],
    csv: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, readable=True, help="CSV file.")
    ],
) -> None:
    """Load historical orders: member_external_id, ordered_at, amount (fen)
    [, quantity, order_external_id, product]. Re-running the same file adds nothing twice."""
    from growthloop.core.errors import AppError
    from growthloop.orders.importer import ImportFailed, import_orders_csv

    settings = Settings()

    async def run() -> dict[str, int]:
        rt = await _prepared(settings)
        try:
            return await import_orders_csv(rt, merchant, csv)
        finally:
            await rt.db.dispose()

    try:
        summary = asyncio.run(run())
    except (ImportFailed, AppError) as exc:
        typer.echo(f"import failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(summary))


@compliance_app.command("run-due")
def compliance_run_due(
    now: Annotated[
        bool, typer.Option("--now", help="Every pending request, cooling-off period or not.")
    ] = False,
) -> None:
    """Carry out the account deletions that are due (注销), as the worker does."""
    from growthloop.compliance import deletion

    settings = Settings()

    async def run() -> int:
        rt = await _prepared(settings)
        try:
            return await deletion.run_due(rt.db, rt.clock, rt.privacy, every=now)
        finally:
            await rt.analytics.close()
            await rt.db.dispose()

    done = asyncio.run(run())
    typer.echo(json.dumps({"carried_out": done}))


class _Refused(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))


def _listed(problems: list[str]) -> list[str]:
    return [f"  - {p}" for p in problems]


@compliance_app.command("rotate-keys")
def compliance_rotate_keys(
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 500,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Rotate even when a running process lacks the newest key: it will answer "
            "503 wherever it reads personal data, until restarted with the key.",
        ),
    ] = False,
) -> None:
    """Re-encrypt every encrypted personal-data column under the newest key of
    GROWTHLOOP_PII_KEYS (and seal any plaintext value found). Safe to run again.

    Refuses (exit 1) while a running serve or worker does not hold that key as its own
    newest key, or when stored values use a key this command lacks."""
    from growthloop.all_models import metadata
    from growthloop.core import crypto, processes

    settings = Settings()
    warned: set[str] = set()

    def warn(problems: list[str]) -> None:
        new = [p for p in problems if p not in warned]
        if new:
            warned.update(new)
            typer.echo("\n".join(["warning (--force):", *_listed(new)]), err=True)

    async def run() -> dict[str, object]:
        rt = await _prepared(settings)
        try:
            ring = crypto.current_keys()
            kid = ring.current_kid
            usage = await crypto.key_usage(rt.db, metadata)
            missing = processes.startup_problems(ring, usage)
            if missing:
                raise _Refused(
                    [
                        "refusing to rotate: values this command cannot open:",
                        *_listed(missing),
                        "Add the key(s) to GROWTHLOOP_PII_KEYS (before the newest) and run again.",
                    ]
                )
            problems = await processes.rotation_check(rt.db, ring)
            if problems and not force:
                raise _Refused(
                    [
                        f"refusing to rotate to key id {kid!r}: running processes would be "
                        "locked out of the data:",
                        *_listed(problems),
                        f"Put {kid!r} last in GROWTHLOOP_PII_KEYS of every serve and worker "
                        "process and restart them; `growthloop compliance keys-status` shows "
                        "what each holds. (--force rotates anyway.)",
                    ]
                )
            warn(problems)

            async def recheck(done: bool = False) -> None:
                # a process may start while the rotation runs
                now = await processes.rotation_check(rt.db, ring)
                if now and not force:
                    what = "rotated everything, but meanwhile" if done else "stopped part-way:"
                    then = "." if done else ", then run rotate-keys again."
                    raise _Refused(
                        [
                            f"{what} a process without the key started:",
                            *_listed(now),
                            f"Restart it with {kid!r} last in GROWTHLOOP_PII_KEYS{then}",
                        ]
                    )
                warn(now)

            columns = await crypto.rotate_keys(
                rt.db, metadata, ring, batch_size=batch_size, before_batch=recheck
            )
            await recheck(done=True)
            return {"key_id": kid, "columns": columns}
        finally:
            await rt.analytics.close()
            await rt.db.dispose()

    try:
        result = asyncio.run(run())
    except _Refused as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result))


@compliance_app.command("keys-status")
def compliance_keys_status() -> None:
    """The key ids the stored personal data is sealed with, those each running serve and
    worker holds, and what is wrong (`problems`, exit 1) or would stop rotating to the
    newest key of this command's GROWTHLOOP_PII_KEYS (`rotate_to.blockers`)."""
    from growthloop.all_models import metadata
    from growthloop.core import crypto, processes

    settings = Settings()

    async def run() -> dict[str, object]:
        rt = await _prepared(settings)
        try:
            return await processes.key_status(rt.db, metadata, crypto.current_keys())
        finally:
            await rt.analytics.close()
            await rt.db.dispose()

    status = asyncio.run(run())
    typer.echo(json.dumps(status, ensure_ascii=False, indent=2))
    if status["problems"]:
        raise typer.Exit(1)


def main() -> None:
    app()
