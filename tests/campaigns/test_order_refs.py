"""Issue 12, point 17: an order line names the campaign instance it belongs to
(`campaign_ref`): the group of a group buy (tests/campaigns/test_group_buys.py), the
bargain instance of a bargain; a flash sale has no instances."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from growthloop.core.models import UTCDateTime
from growthloop.core.runtime import Runtime
from growthloop.migrate import alembic_config, upgrade
from tests.campaigns.support import flash_sale
from tests.conftest import BACKENDS, PG_URL, _fresh_pg_database
from tests.helpers import make_shop


async def test_a_bargain_order_names_its_instance(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=5000, stock=5, options=[])
    body = {
        "product_id": product["id"],
        "original_price": 5000,
        "floor_price": 100,
        "helpers_needed": 3,
        "duration_minutes": 60,
    }
    r = await client.post("/v1/admin/bargains", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    bargain = r.json()
    owner = await shop.member()
    r = await client.post(f"/v1/bargains/{bargain['id']}/start", headers=owner)
    assert r.status_code in (200, 201), r.text
    instance_id = r.json()["id"]
    r = await client.post(f"/v1/bargain-instances/{instance_id}/purchase", headers=owner)
    assert r.status_code == 201, r.text
    line = r.json()["items"][0]
    assert (line["campaign_kind"], line["campaign_id"], line["campaign_ref"]) == (
        "bargain",
        bargain["id"],
        instance_id,
    )
    await shop.pay(owner, r.json()["id"])
    r = await client.get(f"/v1/orders/{r.json()['id']}", headers=owner)
    assert r.json()["items"][0]["campaign_ref"] == instance_id


async def test_a_flash_sale_order_names_no_instance(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1500, stock=20, options=[])
    sale = await flash_sale(shop, product["id"])
    member = await shop.member()
    r = await client.post(
        f"/v1/flash-sales/{sale['id']}/purchase", json={"quantity": 1}, headers=member
    )
    assert r.status_code == 201, r.text
    line = r.json()["items"][0]
    assert (line["campaign_kind"], line["campaign_id"], line["campaign_ref"]) == (
        "flash_sale",
        sale["id"],
        None,
    )


# ---- the migration: orders placed before it ---------------------------------------------

BEFORE = "e2f3a4b5c6d7"  # the revision before 20261207_f3a4b5c6d7e8_order_group
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


_ORDERS = sa.table(
    "orders",
    *(sa.column(c) for c in ("id", "merchant_id", "status", "source", "subtotal")),
    *(sa.column(c) for c in ("tier_discount", "coupon_discount", "discount", "payable")),
    *(sa.column(c) for c in ("points_deduction", "points_used")),
    sa.column("created_at", UTCDateTime()),
    sa.column("refunded_at", UTCDateTime()),
)
_ITEMS = sa.table(
    "order_items",
    *(sa.column(c) for c in ("id", "merchant_id", "order_id", "name", "unit_price")),
    *(sa.column(c) for c in ("quantity", "line_total", "campaign_kind", "campaign_id")),
    sa.column("options", sa.JSON()),
)
_GROUPS = sa.table(
    "buy_groups",
    *(sa.column(c) for c in ("id", "merchant_id", "group_buy_id", "leader_member_id", "size")),
    *(sa.column(c) for c in ("paid_count", "status", "simulated")),
    *(sa.column(c, UTCDateTime()) for c in ("expires_at", "created_at")),
    *(sa.column(c, UTCDateTime()) for c in ("succeeded_at", "failed_at")),
)
_PLACES = sa.table(
    "group_members",
    *(sa.column(c) for c in ("id", "merchant_id", "group_buy_id", "group_id", "member_id")),
    *(sa.column(c) for c in ("order_id", "role", "status")),
    *(sa.column(c, UTCDateTime()) for c in ("joined_at", "paid_at")),
)
_INSTANCES = sa.table(
    "bargain_instances",
    *(sa.column(c) for c in ("id", "merchant_id", "bargain_id", "owner_member_id")),
    *(sa.column(c) for c in ("original_price", "floor_price", "helpers_needed")),
    *(sa.column(c) for c in ("current_price", "helps", "status", "order_id")),
    *(sa.column(c, UTCDateTime()) for c in ("expires_at", "created_at")),
)


def _seed(conn: Connection) -> None:
    def order(
        oid: str,
        status: str,
        refunded: int | None = None,
        kind: str | None = None,
        campaign: str | None = None,
    ) -> None:
        conn.execute(
            _ORDERS.insert().values(
                id=oid,
                merchant_id="M",
                status=status,
                source="app",
                subtotal=990,
                tier_discount=0,
                coupon_discount=0,
                discount=0,
                payable=990,
                points_deduction=0,
                points_used=0,
                created_at=_at(0),
                refunded_at=_at(refunded) if refunded is not None else None,
            )
        )
        conn.execute(
            _ITEMS.insert().values(
                id=f"I{oid}",
                merchant_id="M",
                order_id=oid,
                name="奶茶",
                unit_price=990,
                quantity=1,
                line_total=990,
                campaign_kind=kind,
                campaign_id=campaign,
                options={},
            )
        )

    def group(gid: str, status: str, paid: int, finished: int | None = None) -> None:
        conn.execute(
            _GROUPS.insert().values(
                id=gid,
                merchant_id="M",
                group_buy_id="GB",
                leader_member_id="m1",
                size=4,
                paid_count=paid,
                status=status,
                simulated=False,
                expires_at=_at(60),
                created_at=_at(0),
                succeeded_at=_at(finished) if status == "succeeded" else None,
                failed_at=_at(finished) if status == "failed" else None,
            )
        )

    def place(gid: str, oid: str, status: str, paid: bool = True) -> None:
        conn.execute(
            _PLACES.insert().values(
                id=f"P{oid}",
                merchant_id="M",
                group_buy_id="GB",
                group_id=gid,
                member_id=f"m{oid}",
                order_id=oid,
                role="member",
                status=status,
                joined_at=_at(0),
                paid_at=_at(1) if paid else None,
            )
        )

    group("forming", "forming", 1)
    group("failed", "failed", 2, finished=60)
    group("succeeded", "succeeded", 4, finished=30)
    for oid, gid, order_status, refunded, place_status in (
        ("o1", "forming", "paid", None, "paid"),
        ("o2", "forming", "refunded", 10, "refunded"),  # left the forming group
        ("o3", "failed", "refunded", 20, "refunded"),  # left before the group failed
        ("o4", "failed", "refunded", 61, "refunded"),  # refunded because it failed
        ("o5", "failed", "paid", None, "refunded"),  # its refund still being retried
        ("o6", "succeeded", "refunded", 45, "refunded"),  # refunded after success
        ("o7", "succeeded", "paid", None, "paid"),
    ):
        order(oid, order_status, refunded, "group_buy", "GB")
        place(gid, oid, place_status)
    order("o8", "cancelled", None, "group_buy", "GB")
    place("forming", "o8", "cancelled", paid=False)
    order("o9", "paid", None, "bargain", "BG")
    conn.execute(
        _INSTANCES.insert().values(
            id="BI",
            merchant_id="M",
            bargain_id="BG",
            owner_member_id="m9",
            original_price=5000,
            floor_price=100,
            helpers_needed=3,
            current_price=990,
            helps=1,
            status="purchased",
            order_id="o9",
            expires_at=_at(60),
            created_at=_at(0),
        )
    )
    order("o10", "paid", None, "flash_sale", "FS")
    order("o11", "paid")


@pytest.fixture(params=BACKENDS)
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend under test (PostgreSQL: one of this test's own)."""
    if request.param == "postgres":
        assert PG_URL is not None
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        return await _fresh_pg_database(PG_URL, f"{worker}_order_refs")
    return f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"


async def test_the_migration_fills_in_orders_and_seats_before_it(fresh_url: str) -> None:
    engine = create_async_engine(fresh_url)
    left_at = sa.column("left_at", UTCDateTime())
    try:
        await upgrade(engine, BEFORE)
        async with engine.begin() as conn:
            await conn.run_sync(_seed)
        await upgrade(engine, "f3a4b5c6d7e8")
        async with engine.connect() as conn:
            refs = dict(
                (await conn.execute(text("SELECT order_id, campaign_ref FROM order_items"))).all()
            )
            stmt = sa.select(_PLACES.c.order_id, left_at).select_from(_PLACES)
            left = dict((await conn.execute(stmt)).all())
        assert refs == {
            **{o: "forming" for o in ("o1", "o2", "o8")},
            **{o: "failed" for o in ("o3", "o4", "o5")},
            **{o: "succeeded" for o in ("o6", "o7")},
            "o9": "BI",
            "o10": None,
            "o11": None,
        }
        # Left: refunded while their group was forming (o2 in a group still forming, o3
        # before its group failed); the others keep their seats.
        assert left == {
            "o1": None,
            "o2": _at(10),
            "o3": _at(20),
            "o4": None,
            "o5": None,
            "o6": None,
            "o7": None,
            "o8": None,
        }

        def down(connection: Connection) -> dict[str, set[str]]:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, BEFORE)
            inspector = sa.inspect(connection)
            return {
                t: {c["name"] for c in inspector.get_columns(t)}
                for t in ("order_items", "group_members")
            }

        async with engine.begin() as conn:
            columns = await conn.run_sync(down)
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM group_members"))).scalar()
    finally:
        await engine.dispose()
    assert "campaign_ref" not in columns["order_items"] and "campaign_id" in columns["order_items"]
    assert "left_at" not in columns["group_members"] and "paid_at" in columns["group_members"]
    assert count == 8
