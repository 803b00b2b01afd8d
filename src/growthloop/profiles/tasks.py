"""The members export: a bulk read of personal data, audit-logged in a unit of work of
its own before the first row leaves, then streamed from a read transaction of its own."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import merchant_timezone
from growthloop.core.db import Database
from growthloop.core.money import yuan
from growthloop.profiles import service
from growthloop.profiles.service import MemberFilters

CSV_COLUMNS = (
    "id",
    "nickname",
    "phone",
    "tier",
    "points",
    "orders",
    "spend_fen",
    "spend_yuan",
    "platforms",
    "signup_platform",
    "created_at",
    "last_login_at",
)
# A cell starting with one of these is a formula to Excel and WPS (CSV injection): such a
# nickname is written with a leading apostrophe, which the spreadsheet shows as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def export_members(
    session: AsyncSession,
    db: Database,
    merchant_id: str,
    admin_id: str,
    filters: MemberFilters,
    *,
    secret: str,
) -> AsyncIterator[bytes]:
    """The CSV of every member the filters select, to stream. Bad filters (an unknown tier)
    are refused first; then the export's audit entry commits (the request's own
    transaction is a read one), and only then can the first row be read."""
    await service.check_filters(session, merchant_id, filters)
    async with db.unit_of_work() as uow:
        await service.record_export(uow.session, merchant_id, admin_id, filters)
    return _csv(db, merchant_id, filters, secret=secret)


def _cell(text: str | None) -> str:
    if not text:
        return ""
    return "'" + text if text.startswith(_FORMULA_START) else text


async def _csv(
    db: Database, merchant_id: str, filters: MemberFilters, *, secret: str
) -> AsyncIterator[bytes]:
    """Newest first, as CSV (UTF-8 with a byte order mark, so Excel reads the Chinese right;
    times in the merchant's timezone; phones masked), in batches read in one read
    transaction of its own."""
    async with db.unit_of_work(write=False) as uow:
        session = uow.session
        zone = ZoneInfo(await merchant_timezone(session, merchant_id))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        buffer.write("\ufeff")
        writer.writerow(CSV_COLUMNS)
        async for batch in service.export_batches(session, merchant_id, filters, secret=secret):
            for m in batch:
                writer.writerow(
                    (
                        m.id,
                        _cell(m.nickname),
                        m.phone or "",
                        _cell(m.tier),
                        m.points,
                        m.orders,
                        m.spend,
                        yuan(m.spend),
                        "|".join(m.platforms),
                        m.signup_platform,
                        m.created_at.astimezone(zone).isoformat(),
                        m.last_login_at.astimezone(zone).isoformat() if m.last_login_at else "",
                    )
                )
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
