"""The settlement ledger between two merchants: one entry per exchange, payer = the source,
totals that are the sums of the entries, and a CSV export that Excel and `csv` both read."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from sqlalchemy import select

from growthloop.core.audit import AuditEntry
from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.alliance.support import PARTNERSHIPS, alliance, by_unionid, exchange, give_points
from tests.helpers import Shop, assert_error, make_shop


async def _report(shop: Shop, partnership_id: str, **params: str) -> dict[str, Any]:
    r = await shop.client.get(
        f"{PARTNERSHIPS}/{partnership_id}/settlement", params=params, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_settlement_entries_totals_and_csv(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    # 10 of A's <-> 3 of B's; the source pays 5 fen per 100 of A's points moved.
    a, b, p = await alliance(client, rt)
    alice = await by_unionid(a, b, "alice")
    await give_points(rt, a, alice.a_id, 10_000, "gift:a")
    await give_points(rt, b, alice.b_id, 10_000, "gift:b")

    expected = []  # (payer, points_out, points_in, fen)
    for n, fen in ((10, 1), (30, 2), (1000, 50)):  # 0.5 -> 1 and 1.5 -> 2: half-up
        assert (await exchange(client, alice.a, p["id"], n)).status_code == 201
        expected.append((a.merchant_id, n, n * 3 // 10, fen))
    for n, fen in ((3, 1), (300, 50)):  # B's 3 points bring 10 of A's: priced on those
        assert (await exchange(client, alice.b, p["id"], n)).status_code == 201
        expected.append((b.merchant_id, n, n * 10 // 3, fen))
    clock.advance(days=1)
    await a.relogin()
    await b.relogin()
    assert (await exchange(client, alice.a, p["id"], 2000)).status_code == 201
    expected.append((a.merchant_id, 2000, 600, 100))

    report = await _report(a, p["id"])
    assert (report["from"], report["to"]) == ("2026-03-01", "2026-03-03")
    entries = report["entries"]
    assert [
        (e["payer_merchant_id"], e["points_out"], e["points_in"], e["amount"]) for e in entries
    ] == expected
    for e in entries:
        other = b.merchant_id if e["payer_merchant_id"] == a.merchant_id else a.merchant_id
        assert e["payee_merchant_id"] == other
    a_pays = sum(e["amount"] for e in entries if e["payer_merchant_id"] == a.merchant_id)
    b_pays = sum(e["amount"] for e in entries if e["payer_merchant_id"] == b.merchant_id)
    assert report["totals"] == {
        "exchanges": 6,
        "amount": a_pays + b_pays,
        "payable": a_pays,
        "receivable": b_pays,
        "net": b_pays - a_pays,
    }
    assert (a_pays, b_pays) == (153, 51)
    assert report["net_position"] == {
        "payer_merchant_id": a.merchant_id,
        "payee_merchant_id": b.merchant_id,
        "amount": 102,
    }
    # B sees the same entries and the mirror image of A's position.
    mirror = await _report(b, p["id"])
    assert mirror["entries"] == entries
    assert (mirror["totals"]["payable"], mirror["totals"]["receivable"]) == (b_pays, a_pays)
    assert mirror["net_position"] == report["net_position"]

    # A period: days in the caller's timezone, both ends included.
    day1 = await _report(a, p["id"], **{"from": "2026-03-02", "to": "2026-03-02"})
    assert day1["totals"]["exchanges"] == 5 and day1["totals"]["net"] == 51 - 53
    day2 = await _report(a, p["id"], **{"from": "2026-03-03", "to": "2026-03-03"})
    assert [e["amount"] for e in day2["entries"]] == [100]
    assert (await _report(a, p["id"], **{"from": "2026-02-01", "to": "2026-02-28"}))[
        "entries"
    ] == []

    # CSV: BOM, a header row, one row per entry, the same amounts.
    r = await client.get(
        f"{PARTNERSHIPS}/{p['id']}/settlement", params={"format": "csv"}, headers=a.admin
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["exchange_id"] for row in rows] == [e["exchange_id"] for e in entries]
    assert [int(row["amount_fen"]) for row in rows] == [e["amount"] for e in entries]
    assert sum(int(row["amount_fen"]) for row in rows) == report["totals"]["amount"]
    assert rows[0]["payer_name"].startswith("甲茶饮") and rows[0]["amount_yuan"] == "0.01"
    assert rows[0]["created_at"].endswith("+08:00")

    async with rt.db.unit_of_work(write=False) as uow:
        exports = (
            await uow.session.execute(
                select(AuditEntry.merchant_id, AuditEntry.details).where(
                    AuditEntry.action == "alliance.settlement.export"
                )
            )
        ).all()
    assert len(exports) == 6
    assert [d["format"] for m, d in exports if m == a.merchant_id][-1] == "csv"


async def test_settlement_access_and_bad_periods(client: httpx.AsyncClient, rt: Runtime) -> None:
    a, _, p = await alliance(client, rt)
    c = await make_shop(client, rt, "丙")
    path = f"{PARTNERSHIPS}/{p['id']}/settlement"
    assert_error(await client.get(path, headers=c.admin), 403, "forbidden")
    analyst, support = await a.staff("analyst"), await a.staff("support")
    assert (await client.get(path, headers=analyst)).status_code == 200
    assert_error(await client.get(path, headers=support), 403, "forbidden")
    for params in (
        {"from": "2026-03-05", "to": "2026-03-01"},
        {"from": "2025-01-01", "to": "2026-03-01"},
    ):
        assert_error(await client.get(path, params=params, headers=a.admin), 422, "invalid_period")
    for params in ({"from": "yesterday"}, {"format": "xlsx"}, {"to": "2026-02-30"}):
        assert_error(await client.get(path, params=params, headers=a.admin), 422, "invalid_input")
