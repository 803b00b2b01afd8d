"""Alliance work that opens a unit of work of its own: the settlement export, whose audit
entry commits before the report leaves."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.alliance import settlement
from growthloop.alliance.schemas import SettlementOut
from growthloop.core.db import Database


async def settlement_export(
    session: AsyncSession,
    db: Database,
    merchant_id: str,
    admin_id: str,
    partnership_id: str,
    start: date | None,
    end: date | None,
    fmt: str,
) -> SettlementOut:
    """The settlement report (`settlement.period_report`), audit-logged: it is read in the
    request's read transaction and the export's entry is committed in its own, before the
    report is returned."""
    report = await settlement.period_report(session, merchant_id, partnership_id, start, end)
    async with db.unit_of_work() as uow:
        await settlement.record_export(uow.session, merchant_id, admin_id, report, fmt)
    return report
