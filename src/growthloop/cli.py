"""The `growthloop` command. Every command migrates the configured database first."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from growthloop.config import Settings
from growthloop.core.logs import configure_logging
from growthloop.core.runtime import Runtime
from growthloop.migrate import upgrade
from growthloop.wiring import build_runtime

app = typer.Typer(
    help="growthloop: the growth backend for mini-program merchants.", no_args_is_help=True
)
merchant_app = typer.Typer(help="Manage merchants.", no_args_is_help=True)
import_app = typer.Typer(help="Bulk-load historical data.", no_args_is_help=True)
compliance_app = typer.Typer(help="Privacy requests.", no_args_is_help=True)
app.add_typer(merchant_app, name="merchant")
app.add_typer(import_app, name="import")
app.add_typer(compliance_app, name="compliance")

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.")]


async def _prepared(settings: Settings) -> Runtime:
    rt = build_runtime(settings)
    await upgrade(rt.db.engine)
    return rt


def _serve(settings: Settings, host: str, port: int) -> None:
    from growthloop.app import create_app

    async def migrate_only() -> None:
        rt = await _prepared(settings)
        await rt.db.dispose()

    asyncio.run(migrate_only())
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)


@app.command()
def serve(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Migrate the configured database and serve the API (and the sweeper, by default)."""
    settings = Settings()
    configure_logging(settings.log_level)
    _serve(settings, host, port)


@app.command()
def migrate() -> None:
    """Bring the configured database to the latest schema."""
    settings = Settings()

    async def run() -> None:
        rt = await _prepared(settings)
        await rt.db.dispose()

    asyncio.run(run())
    typer.echo("database is up to date")


@app.command()
def worker() -> None:
    """Run the sweeper (payment windows, refunds, outbox, purges) in this process alone."""
    settings = Settings()
    configure_logging(settings.log_level)

    async def run() -> None:
        rt = await _prepared(settings)
        try:
            await rt.sweeper.run_forever()
        finally:
            await rt.db.dispose()

    asyncio.run(run())


@app.command()
def demo(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Seed the demo tea shop 示例茶饮 into the data dir on first start, then serve it."""
    from growthloop.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_if_empty

    settings = Settings(dev_login=True, sandbox=True)
    configure_logging(settings.log_level)

    async def seed() -> str:
        rt = await _prepared(settings)
        try:
            return await seed_if_empty(rt)
        finally:
            await rt.db.dispose()

    merchant_id = asyncio.run(seed())
    typer.echo(
        f"\n  growthloop demo: http://{host}:{port}   API docs: http://{host}:{port}/docs\n"
        f"  operator login: {DEMO_EMAIL} / {DEMO_PASSWORD}   merchant id: {merchant_id}\n"
    )
    _serve(settings, host, port)


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
            return await deletion.run_due(rt.db, rt.privacy, rt.clock, every=now)
        finally:
            await rt.analytics.close()
            await rt.db.dispose()

    done = asyncio.run(run())
    typer.echo(json.dumps({"carried_out": done}))


@compliance_app.command("rotate-keys")
def compliance_rotate_keys(
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 500,
) -> None:
    """Re-encrypt every encrypted personal-data column under the newest key of
    GROWTHLOOP_PII_KEYS (and seal any plaintext value found). Safe to run again."""
    from growthloop.all_models import metadata
    from growthloop.core import crypto

    settings = Settings()

    async def run() -> dict[str, object]:
        rt = await _prepared(settings)
        try:
            ring = crypto.current_keys()
            columns = await crypto.rotate_keys(rt.db, metadata, ring, batch_size=batch_size)
            return {"key_id": ring.current_kid, "columns": columns}
        finally:
            await rt.analytics.close()
            await rt.db.dispose()

    typer.echo(json.dumps(asyncio.run(run())))


def main() -> None:
    app()
