"""The settlement report between the two merchants of a partnership: the entries of a
period, their totals and who owes whom, as JSON or CSV. Never commits.

Each exchange wrote one entry (`service.exchange`): the source merchant pays the target
at the agreed price, rounded half-up to the fen per entry; totals are sums of entries.
Days are the caller's days (its timezone).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.alliance import repository as repo
from growthloop.alliance import service
from growthloop.alliance.errors import InvalidPeriod
from growthloop.alliance.schemas import (
    NetPositionOut,
    SettlementEntryOut,
    SettlementOut,
    SettlementTotalsOut,
)
from growthloop.core.audit import Action
from growthloop.core.context import merchant_timezone, merchant_today
from growthloop.core.money import yuan
from growthloop.core.presenting import from_row
from growthloop.identity import service as identity

MAX_PERIOD_DAYS = 366


async def period_report(
    session: AsyncSession,
    merchant_id: str,
    partnership_id: str,
    start: date | None,
    end: date | None,
) -> SettlementOut:
    """The entries of days `start`..`end` (inclusive, the caller's timezone; default: this
    month so far), their totals and who owes whom on balance."""
    p = await service.access_partnership(session, merchant_id, partnership_id)
    tz = await merchant_timezone(session, merchant_id)
    today = await merchant_today(session, merchant_id)
    end = end or today
    start = start or end.replace(day=1)
    if start > end or (end - start).days >= MAX_PERIOD_DAYS:
        raise InvalidPeriod(start=start.isoformat(), end=end.isoformat())
    zone = ZoneInfo(tz)
    since = datetime.combine(start, time.min, tzinfo=zone)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
    rows = await repo.settlement_entries(session, p.id, since, until)
    payable = sum(r.amount for r in rows if r.merchant_id == merchant_id)
    receivable = sum(r.amount for r in rows if r.payee_merchant_id == merchant_id)
    net = receivable - payable
    other = service.other_side(p, merchant_id)
    payer, payee = (other, merchant_id) if net > 0 else (merchant_id, other)
    return SettlementOut(
        partnership_id=p.id,
        merchant_id=merchant_id,
        counterparty_merchant_id=other,
        start=start,
        end=end,
        timezone=tz,
        entries=[from_row(SettlementEntryOut, r, payer_merchant_id=r.merchant_id) for r in rows],
        totals=SettlementTotalsOut(
            exchanges=len(rows),
            amount=payable + receivable,
            payable=payable,
            receivable=receivable,
            net=net,
        ),
        net_position=NetPositionOut(
            payer_merchant_id=payer if net else None,
            payee_merchant_id=payee if net else None,
            amount=abs(net),
        ),
    )


CSV_COLUMNS = (
    "created_at",
    "exchange_id",
    "payer_merchant_id",
    "payer_name",
    "payee_merchant_id",
    "payee_name",
    "points_out",
    "points_in",
    "amount_fen",
    "amount_yuan",
)


async def settlement_csv(session: AsyncSession, report: SettlementOut) -> str:
    """The report's entries as CSV with a header row, times in the caller's timezone; it
    starts with a UTF-8 byte order mark so that Excel reads the Chinese names right."""
    names = {
        m: (await identity.get_merchant(session, m)).name
        for m in (report.merchant_id, report.counterparty_merchant_id)
    }
    zone = ZoneInfo(report.timezone)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in report.entries:
        writer.writerow(
            (
                e.created_at.astimezone(zone).isoformat(),
                e.exchange_id,
                e.payer_merchant_id,
                names[e.payer_merchant_id],
                e.payee_merchant_id,
                names[e.payee_merchant_id],
                e.points_out,
                e.points_in,
                e.amount,
                yuan(e.amount),
            )
        )
    return buffer.getvalue()


async def record_export(
    session: AsyncSession, merchant_id: str, admin_id: str, report: SettlementOut, fmt: str
) -> None:
    """An export names the period and its totals; `tasks.settlement_export` writes it."""
    await service.audit_partnership(
        session,
        merchant_id,
        admin_id,
        Action.ALLIANCE_SETTLEMENT_EXPORT,
        report.partnership_id,
        format=fmt,
        start=report.start.isoformat(),
        end=report.end.isoformat(),
        exchanges=report.totals.exchanges,
        net=report.totals.net,
    )
