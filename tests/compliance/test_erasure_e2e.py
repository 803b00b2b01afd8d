"""注销 end to end: a member leaves distinctive identifiers everywhere they can (login,
profile, SDK events and a linked device, orders, coupons, points, consents, the audit log),
asks for deletion, cancels, asks again; after the cooling-off period the worker carries it
out, and no byte of them remains: not in any table, not in any file of the data dir (free
pages and the write-ahead log included), not in the event store's segments."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import String, Text, cast, or_, select

from growthloop.all_models import metadata
from growthloop.analytics.tasks import flush_outbox, maintain_store
from growthloop.compliance import deletion
from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.helpers import assert_error, bearer, make_shop


def _parquet_strings(path: Path) -> list[str]:
    table = pq.read_table(path)
    found: list[str] = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            found += [v for v in column.to_pylist() if v]
    return found


def _scan_files(root: Path, needles: list[str]) -> list[str]:
    """Files under `root` holding a needle: as raw bytes (the SQLite file, its WAL, logs),
    and, for the compressed Parquet segments, in their decoded string values."""
    hits = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for needle in needles:
            if needle.encode() in data:
                hits.append(f"{path}: {needle}")
        if path.suffix == ".parquet":
            for value in _parquet_strings(path):
                hits += [f"{path} (decoded): {n}" for n in needles if n in value]
    return hits


async def _scan_tables(rt: Runtime, needles: list[str]) -> list[str]:
    hits = []
    async with rt.db.unit_of_work(write=False) as uow:
        for table in metadata.sorted_tables:
            as_text = Text if rt.db.dialect == "postgresql" else String
            conditions = [cast(c, as_text).contains(n) for c in table.columns for n in needles]
            found = (
                await uow.session.execute(select(*table.columns).where(or_(*conditions)).limit(1))
            ).first()
            if found is not None:
                hits.append(f"{table.name}: {found}")
    return hits


async def _leave_traces(
    shop: Any, code: str, nickname: str, note: str, device: str
) -> dict[str, str]:
    client = shop.client
    member = await shop.member(code)
    r = await client.patch(
        "/v1/me/profile", json={"nickname": nickname, "birthday": "1990-05-17"}, headers=member
    )
    assert r.status_code == 200, r.text
    r = await client.post("/v1/me/phone", json={"code": "13912345678"}, headers=member)
    assert r.status_code == 200, r.text
    r = await client.put("/v1/me/consents", json={"marketing": True}, headers=member)
    assert r.status_code == 200, r.text
    r = await client.post("/v1/me/checkin", headers=member)
    assert r.status_code == 200, r.text
    coupon = await client.post(
        "/v1/admin/coupons",
        json={"name": "满减", "kind": "amount_off", "value": 100, "min_spend": 0},
        headers=shop.admin,
    )
    r = await client.post(f"/v1/coupons/{coupon.json()['id']}/claim", headers=member)
    assert r.status_code == 201, r.text
    product = await shop.product(price=1200)
    await shop.paid_order(member, product["id"])
    events = [
        {"event": "page_view", "distinct_id": device, "properties": {"note": note}},
        {"event": "$identify", "distinct_id": code, "properties": {"$anon_distinct_id": device}},
        {"event": "tap", "distinct_id": code, "properties": {"note": note, "who": nickname}},
    ]
    r = await client.post(
        "/v1/ingest/batch", json={"events": events}, headers={"X-Ingest-Key": shop.ingest_key}
    )
    assert r.json()["accepted"] == 3, r.text
    return member


async def test_nothing_of_an_erased_member_remains(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    tag = secrets.token_hex(6)
    code, nickname = f"zqopenid{tag}", f"昵称{tag}zq"
    note, device = f"zqnote{tag}", f"zqdevice{tag}"
    needles = [code, nickname, note, device, "13912345678"]
    member = await _leave_traces(shop, code, nickname, note, device)
    # Another member whose data must all stay.
    other = await _leave_traces(shop, f"keep{tag}", f"留下{tag}", f"keepnote{tag}", f"keepdev{tag}")
    await flush_outbox(rt.db, rt.analytics)
    await maintain_store(rt.analytics, force=True)  # some events rolled up, some in the tail
    r = await client.post(
        "/v1/ingest/batch",
        json={"events": [{"event": "late", "distinct_id": code, "properties": {"n": note}}]},
        headers={"X-Ingest-Key": shop.ingest_key},
    )
    assert r.status_code == 200

    # The export holds it all, one section per domain.
    export = (await client.post("/v1/me/data-export", headers=member)).json()
    text = str(export)
    assert code in text and nickname in text and note in text
    assert {"identity", "orders", "loyalty", "coupons", "privacy", "analytics"} <= set(
        export["sections"]
    )

    # Ask, cancel, ask again; the cooling-off period is the default 7 days.
    asked = (await client.post("/v1/me/deletion", headers=member)).json()
    assert (await client.post("/v1/me/deletion/cancel", headers=member)).json()["status"] == (
        "cancelled"
    )
    assert_error(await client.post("/v1/me/deletion/cancel", headers=member), 409)
    again = (await client.post("/v1/me/deletion", headers=member)).json()
    assert again["request_id"] != asked["request_id"]
    assert again["scheduled_for"] > asked["requested_at"]
    queue = (await client.get("/v1/admin/privacy/deletions", headers=shop.admin)).json()
    assert [q["status"] for q in queue["items"]] == ["pending", "cancelled"]
    assert queue["items"][0]["deadline"] > queue["items"][0]["scheduled_for"]

    # Not before the period ends.
    clock.advance(days=6)
    assert await deletion.run_due(rt.db, rt.clock, rt.privacy) == 0
    clock.advance(days=1, minutes=1)
    assert await deletion.run_due(rt.db, rt.clock, rt.privacy) == 1

    assert_error(await client.get("/v1/me", headers=member), 401)
    assert await _scan_tables(rt, needles) == []
    assert _scan_files(rt.settings.data_dir, needles) == []
    queue = await client.get("/v1/admin/privacy/deletions?status=done", headers=await _owner(shop))
    receipt = queue.json()["items"][0]["receipt"]
    assert receipt["sections"]["identity"]["erased"]
    assert receipt["stores"]["events"]
    assert not any(n in str(receipt) for n in needles)

    # The other member is whole, and their events still count.
    r = await client.get("/v1/me", headers=other)
    assert r.status_code == 200 and r.json()["nickname"] == f"留下{tag}"
    rows = await rt.analytics.store.query(
        shop.merchant_id, f"SELECT count(*) FROM events WHERE distinct_id = 'keep{tag}'"
    )
    assert rows[0][0] == 2
    # The same platform user coming back is a new member.
    r = await client.post(
        "/v1/auth/login", json={"merchant_id": shop.merchant_id, "platform": "dev", "code": code}
    )
    assert r.json()["is_new"] is True


async def _owner(shop: Any) -> dict[str, str]:
    await shop.relogin()
    return bearer(shop.admin_token)


async def test_an_erasure_the_event_store_fails_is_retried_whole(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member("retry-me")
    events = [{"event": "view", "distinct_id": "retry-me"}]
    await client.post(
        "/v1/ingest/batch", json={"events": events}, headers={"X-Ingest-Key": shop.ingest_key}
    )
    await client.post("/v1/me/deletion", headers=member)
    clock.advance(days=8)
    real = rt.privacy.stores["events"]

    async def broken(_: object) -> dict[str, int]:
        raise OSError("disk full")

    rt.privacy.stores["events"] = broken
    try:
        assert await deletion.run_due(rt.db, rt.clock, rt.privacy) == 0
    finally:
        rt.privacy.stores["events"] = real
    # Nothing was erased: the member and their identifiers are all still there to find.
    assert (await client.get("/v1/me", headers=member)).status_code == 200
    assert await deletion.run_due(rt.db, rt.clock, rt.privacy) == 1
    assert_error(await client.get("/v1/me", headers=member), 401)
    rows = await rt.analytics.store.query(
        shop.merchant_id, "SELECT count(*) FROM events WHERE distinct_id = 'retry-me'"
    )
    assert rows == [(0,)]
