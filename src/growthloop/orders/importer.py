"""`growthloop import orders`: bulk-load historical orders from CSV.

Columns: member_external_id, ordered_at, amount (fen) and optionally quantity,
order_external_id, product. Rows sharing an order_external_id form one order; without
it every row is its own order, identical rows included. Re-running a file adds nothing
twice: an order is recognised by its order_external_id, or by the row's content and how
many times that content occurred before it in the file. The whole file is validated
before anything is written.

A `member_external_id` is first the member who already has it as a platform external id
(openid, unionid, the `dev` code); only an id no member has becomes a new member (platform
`import`), whom a later login with that platform id finds again.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from growthloop.core.context import merchant_timezone
from growthloop.core.events import emit
from growthloop.core.runtime import Runtime
from growthloop.identity import service as identity
from growthloop.orders import repository as repo
from growthloop.orders.events import OrderImported
from growthloop.orders.models import Order, OrderItem

log = logging.getLogger("growthloop.orders")

REQUIRED = ("member_external_id", "ordered_at", "amount")
OPTIONAL = ("quantity", "order_external_id", "product")
BATCH = 500
MAX_ERRORS_SHOWN = 20


class ImportFailed(Exception):
    pass


@dataclass(frozen=True)
class Row:
    line: int
    member_external_id: str
    ordered_at: datetime
    amount: int
    quantity: int
    order_external_id: str | None
    product: str | None

    def content_key(self) -> str:
        return "\x1f".join(
            [
                self.member_external_id,
                self.ordered_at.isoformat(),
                str(self.amount),
                str(self.quantity),
                self.product or "",
            ]
        )


def _parse_time(value: str, tz: ZoneInfo) -> datetime:
    value = value.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), tz)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"ordered_at {value!r} is not an ISO 8601 date or time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _parse_int(value: str, name: str, low: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a whole number (amounts are in fen)") from None
    if number < low or number > 10**10:
        raise ValueError(f"{name} {number} is out of range")
    return number


def read_rows(path: Path, tz: ZoneInfo) -> list[Row]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise ImportFailed(f"missing column(s): {', '.join(missing)}")
        rows, errors = [], []
        for number, record in enumerate(reader, start=2):
            try:
                external = (record.get("member_external_id") or "").strip()
                if not 1 <= len(external) <= 128:
                    raise ValueError("member_external_id must be 1 to 128 characters")
                order_ext = (record.get("order_external_id") or "").strip() or None
                if order_ext and len(order_ext) > 64:
                    raise ValueError("order_external_id is longer than 64 characters")
                product = (record.get("product") or "").strip()[:100] or None
                quantity_text = (record.get("quantity") or "").strip()
                rows.append(
                    Row(
                        line=number,
                        member_external_id=external,
                        ordered_at=_parse_time(record.get("ordered_at") or "", tz),
                        amount=_parse_int(record.get("amount") or "", "amount", 0),
                        quantity=_parse_int(quantity_text, "quantity", 1) if quantity_text else 1,
                        order_external_id=order_ext,
                        product=product,
                    )
                )
            except ValueError as exc:
                errors.append(f"line {number}: {exc}")
    if errors:
        shown = "\n".join(errors[:MAX_ERRORS_SHOWN])
        more = (
            f"\n... and {len(errors) - MAX_ERRORS_SHOWN} more"
            if len(errors) > MAX_ERRORS_SHOWN
            else ""
        )
        raise ImportFailed(f"{len(errors)} invalid row(s), nothing imported:\n{shown}{more}")
    return rows


def group_orders(rows: list[Row]) -> dict[str, list[Row]]:
    """Order reference -> its rows."""
    groups: dict[str, list[Row]] = defaultdict(list)
    seen: Counter[str] = Counter()
    for row in rows:
        if row.order_external_id:
            ref = "x:" + row.order_external_id
        else:
            key = row.content_key()
            seen[key] += 1
            digest = hashlib.sha256(f"{key}\x1e{seen[key]}".encode()).hexdigest()[:40]
            ref = "r:" + digest
        groups[ref].append(row)
    return groups


async def import_orders_csv(rt: Runtime, merchant_id: str, path: Path) -> dict[str, int]:
    async with rt.db.unit_of_work(write=False) as uow:
        tz = await merchant_timezone(uow.session, merchant_id)
    rows = read_rows(path, ZoneInfo(tz))
    groups = list(group_orders(rows).items())
    created = skipped = new_members = 0
    members: dict[str, str] = {}
    for start in range(0, len(groups), BATCH):
        async with rt.db.unit_of_work() as uow:
            s = uow.session
            now = rt.clock.now()
            for ref, lines in groups[start : start + BATCH]:
                if await repo.order_by_external_ref(s, merchant_id, ref) is not None:
                    skipped += 1
                    continue
                external = lines[0].member_external_id
                if external not in members:
                    result = await identity.member_for_external_id(s, merchant_id, external, now)
                    members[external] = result.member.id
                    new_members += int(result.is_new)
                at = min(line.ordered_at for line in lines)
                total = sum(line.amount for line in lines)
                order = Order(
                    merchant_id=merchant_id,
                    member_id=members[external],
                    status="completed",
                    source="import",
                    subtotal=total,
                    discount=0,
                    points_deduction=0,
                    payable=total,
                    points_used=0,
                    external_ref=ref,
                    created_at=at,
                    paid_at=at,
                    completed_at=at,
                )
                s.add(order)
                await s.flush()
                s.add_all(
                    OrderItem(
                        merchant_id=merchant_id,
                        order_id=order.id,
                        product_id=None,
                        name=line.product or "历史订单",
                        unit_price=line.amount // line.quantity,
                        quantity=line.quantity,
                        options={},
                        line_total=line.amount,
                    )
                    for line in lines
                )
                # The history reaches the dashboard too, on the day it happened.
                await emit(
                    s,
                    OrderImported(
                        merchant_id=merchant_id,
                        member_id=order.member_id,
                        order_id=order.id,
                        payable=total,
                        occurred_at=at.isoformat(),
                    ),
                )
                created += 1
    summary = {
        "rows": len(rows),
        "orders_created": created,
        "orders_skipped": skipped,
        "members_created": new_members,
    }
    log.info("orders imported: %d created", created, extra={"merchant_id": merchant_id, **summary})
    return summary
