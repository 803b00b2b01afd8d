"""Alliance points rules: partnerships between two merchants, exchanges, the settlement
ledger. Never commits.

Rate. A partnership says `points` of the proposer's points <-> `partner_points` of the
partner's (stored reduced). Proposer -> partner converts at that rate, partner -> proposer at
its inverse, so an exchange and its way back return exactly what was sent. An amount is
valid when it converts to whole points: a multiple of the source side of the rate.

Caps. `daily_cap` (and `member_daily_cap`) count the source merchant's points leaving it,
per direction, per day in the source merchant's timezone; each is a guarded UPDATE on a
counter row whose rowcount is checked.

Settlement. Each exchange writes one entry: the source merchant pays the target (its
member's points left it and the target now carries the liability) `price_fen` per
`price_points` of the proposer's points that moved (points out, or points in for the
reverse direction), rounded half-up to the fen per entry; totals are sums of entries.

Locks. An exchange locks the two members' loyalty accounts in (merchant id, member id)
order, whichever way the points go, then the member's counter, then the partnership's:
the same order in every transaction, so opposite exchanges of one person cannot deadlock.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from math import gcd
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.alliance import repository as repo
from growthloop.alliance.errors import (
    AwaitingPartner,
    DailyCapReached,
    InvalidPartner,
    InvalidPeriod,
    MemberDailyCapReached,
    NoLinkedMember,
    PartnershipExists,
    PartnershipNotActive,
    PartnershipNotFound,
    PartnershipStateConflict,
    PointsNotConvertible,
    SuspendedByPartner,
)
from growthloop.alliance.models import (
    DailyUsage,
    Exchange,
    MemberDailyUsage,
    Partnership,
    SettlementEntry,
)
from growthloop.alliance.schemas import (
    ExchangeOut,
    NetPositionOut,
    PartnerOut,
    PartnershipIn,
    PartnershipOut,
    PriceIn,
    RateIn,
    SettlementEntryOut,
    SettlementOut,
    SettlementTotalsOut,
)
from growthloop.core import audit
from growthloop.core.clock import Clock
from growthloop.core.context import context_of, merchant_timezone, merchant_today
from growthloop.core.errors import Forbidden
from growthloop.core.events import NamedEvent, emit
from growthloop.core.ids import new_id
from growthloop.core.money import yuan
from growthloop.core.pagination import PageParams, make_page
from growthloop.core.sql import mark_committed
from growthloop.identity import links
from growthloop.identity import service as identity
from growthloop.loyalty import service as loyalty

MAX_PERIOD_DAYS = 366


def _clock(session: AsyncSession) -> Clock:
    clock = context_of(session).clock
    assert isinstance(clock, Clock)
    return clock


def _other(p: Partnership, merchant_id: str) -> str:
    return p.partner_merchant_id if merchant_id == p.merchant_id else p.merchant_id


def partnership_out(p: Partnership, viewer_merchant_id: str) -> PartnershipOut:
    return PartnershipOut(
        id=p.id,
        merchant_id=p.merchant_id,
        partner_merchant_id=p.partner_merchant_id,
        counterparty_merchant_id=_other(p, viewer_merchant_id),
        status=p.status,
        rate=RateIn(points=p.points, partner_points=p.partner_points),
        daily_cap=p.daily_cap,
        member_daily_cap=p.member_daily_cap,
        settlement_price=PriceIn(fen=p.price_fen, points=p.price_points),
        suspended_by=p.suspended_by,
        accepted_at=p.accepted_at,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


# ---- partnerships ----------------------------------------------------------------------


async def propose(
    session: AsyncSession, merchant_id: str, admin_id: str, data: PartnershipIn
) -> Partnership:
    partner_id = data.partner_merchant_id
    if partner_id == merchant_id:
        raise InvalidPartner()
    await identity.get_merchant(session, partner_id)  # 404 merchant_not_found
    now = _clock(session).now()
    pair = ":".join(sorted((merchant_id, partner_id)))
    divisor = gcd(data.rate.points, data.rate.partner_points)
    partnership_id = new_id()
    inserted = await repo.insert_partnership(
        session,
        {
            "id": partnership_id,
            "merchant_id": merchant_id,
            "partner_merchant_id": partner_id,
            "open_pair": pair,
            "status": "pending",
            "points": data.rate.points // divisor,
            "partner_points": data.rate.partner_points // divisor,
            "daily_cap": data.daily_cap,
            "member_daily_cap": data.member_daily_cap,
            "price_fen": data.settlement_price.fen,
            "price_points": data.settlement_price.points,
            "proposed_by": admin_id,
            "created_at": now,
            "updated_at": now,
        },
    )
    if not inserted:
        raise PartnershipExists(partnership_id=await repo.open_partnership_id(session, pair))
    partnership = await repo.get_partnership(session, partnership_id)
    assert partnership is not None
    await _audit(session, partnership, merchant_id, admin_id, "alliance.partnership.propose")
    return partnership


async def access_partnership(
    session: AsyncSession, merchant_id: str, partnership_id: str
) -> Partnership:
    """The partnership, if it exists (404) and `merchant_id` is one of its two sides (403)."""
    partnership = await repo.get_partnership(session, partnership_id)
    if partnership is None:
        raise PartnershipNotFound(partnership_id=partnership_id)
    if merchant_id not in (partnership.merchant_id, partnership.partner_merchant_id):
        raise Forbidden("This partnership is between other merchants.")
    return partnership


async def list_partnerships(
    session: AsyncSession, merchant_id: str, page: PageParams, status: str | None
) -> tuple[list[Partnership], str | None]:
    rows = await repo.partnerships_page(
        session, merchant_id, limit=page.limit, before_id=page.after_id, status=status
    )
    return make_page(rows, page)


async def _audit(
    session: AsyncSession, p: Partnership, merchant_id: str, admin_id: str, action: str
) -> None:
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action=action,
        subject_type="alliance_partnership",
        subject_id=p.id,
        counterparty_merchant_id=_other(p, merchant_id),
        status=p.status,
    )


async def _move(
    session: AsyncSession,
    p: Partnership,
    merchant_id: str,
    admin_id: str,
    action: str,
    from_statuses: tuple[str, ...],
    **values: Any,
) -> Partnership:
    """Change the status with a guarded UPDATE (a concurrent change wins or loses whole)."""
    values["updated_at"] = _clock(session).now()
    if not await repo.transition(session, p.id, from_statuses, **values):
        await session.refresh(p)
        raise PartnershipStateConflict(status=p.status, expected=list(from_statuses))
    mark_committed(p, **values)
    await _audit(session, p, merchant_id, admin_id, action)
    return p


async def accept(
    session: AsyncSession, merchant_id: str, admin_id: str, partnership_id: str
) -> Partnership:
    p = await access_partnership(session, merchant_id, partnership_id)
    if merchant_id != p.partner_merchant_id:
        raise AwaitingPartner()
    now = _clock(session).now()
    return await _move(
        session,
        p,
        merchant_id,
        admin_id,
        "alliance.partnership.accept",
        ("pending",),
        status="active",
        accepted_at=now,
    )


async def suspend(
    session: AsyncSession, merchant_id: str, admin_id: str, partnership_id: str
) -> Partnership:
    """Either side stops exchanges at once; only that side may resume them."""
    p = await access_partnership(session, merchant_id, partnership_id)
    return await _move(
        session,
        p,
        merchant_id,
        admin_id,
        "alliance.partnership.suspend",
        ("active",),
        status="suspended",
        suspended_by=merchant_id,
    )


async def resume(
    session: AsyncSession, merchant_id: str, admin_id: str, partnership_id: str
) -> Partnership:
    p = await access_partnership(session, merchant_id, partnership_id)
    if p.status == "suspended" and p.suspended_by != merchant_id:
        raise SuspendedByPartner()
    return await _move(
        session,
        p,
        merchant_id,
        admin_id,
        "alliance.partnership.resume",
        ("suspended",),
        status="active",
        suspended_by=None,
    )


async def end(
    session: AsyncSession, merchant_id: str, admin_id: str, partnership_id: str
) -> Partnership:
    """Either side withdraws a proposal, declines it, or ends the partnership for good; the
    pair may then agree a new one. Its settlement entries stay."""
    p = await access_partnership(session, merchant_id, partnership_id)
    return await _move(
        session,
        p,
        merchant_id,
        admin_id,
        "alliance.partnership.end",
        ("pending", "active", "suspended"),
        status="ended",
        open_pair=None,
    )


# ---- the member's side -----------------------------------------------------------------


@dataclass(frozen=True)
class Direction:
    """An exchange's way through a partnership: `step_out` source points give `step_in`
    target points."""

    source: str
    target: str
    step_out: int
    step_in: int
    source_is_proposer: bool

    @classmethod
    def of(cls, p: Partnership, source: str) -> Direction:
        if source == p.merchant_id:
            return cls(source, p.partner_merchant_id, p.points, p.partner_points, True)
        return cls(source, p.merchant_id, p.partner_points, p.points, False)


async def partners_for_member(
    session: AsyncSession, merchant_id: str, member_id: str
) -> list[PartnerOut]:
    partnerships = await repo.active_partnerships(session, merchant_id)
    linked = await links.linked_members(
        session, member_id, [_other(p, merchant_id) for p in partnerships]
    )
    today = await merchant_today(session, merchant_id)
    out = []
    for p in partnerships:
        way = Direction.of(p, merchant_id)
        day_key = _cap_key(p, merchant_id, today)
        used = await repo.used(session, DailyUsage, day_key)
        member_left = None
        if p.member_daily_cap is not None:
            mine = await repo.used(session, MemberDailyUsage, {**day_key, "member_id": member_id})
            member_left = max(0, p.member_daily_cap - mine)
        partner = await identity.get_merchant(session, way.target)
        out.append(
            PartnerOut(
                partnership_id=p.id,
                partner_merchant_id=way.target,
                partner_name=partner.name,
                points=way.step_out,
                partner_points=way.step_in,
                linked=way.target in linked,
                daily_remaining=max(0, p.daily_cap - used),
                member_daily_remaining=member_left,
            )
        )
    return out


def _cap_key(p: Partnership, source: str, day: date) -> dict[str, Any]:
    """The counter row of a direction's day: points leaving `source` through `p`."""
    return {"partnership_id": p.id, "merchant_id": source, "day": day}


def _nearest_multiple(points: int, step: int) -> int:
    """The valid amount nearest to `points` (ties go down), never below one step."""
    lower = points // step * step
    upper = lower + step
    if lower == 0:
        return step
    return lower if points - lower <= upper - points else upper


def settlement_amount(p: Partnership, proposer_points: int) -> int:
    """fen for `proposer_points` at the agreed price, rounded half-up."""
    return (2 * proposer_points * p.price_fen + p.price_points) // (2 * p.price_points)


async def exchange(
    session: AsyncSession, merchant_id: str, member_id: str, partnership_id: str, points: int
) -> ExchangeOut:
    """Send `points` of this merchant to the member's linked account at the partner: spend
    here, grant there, record the exchange and its settlement entry, take the caps, all in
    the caller's transaction (an error anywhere leaves nothing written)."""
    p = await access_partnership(session, merchant_id, partnership_id)
    if p.status != "active":
        raise PartnershipNotActive(status=p.status)
    way = Direction.of(p, merchant_id)
    if points % way.step_out:
        raise PointsNotConvertible(
            points=points,
            step=way.step_out,
            nearest_valid_points=_nearest_multiple(points, way.step_out),
        )
    points_in = points // way.step_out * way.step_in
    target_member = await links.linked_member(session, member_id, way.target)
    if target_member is None:
        raise NoLinkedMember(partner_merchant_id=way.target)
    now = _clock(session).now()
    day = await merchant_today(session, merchant_id)
    exchange_id = new_id()
    key = f"alliance:{exchange_id}"

    async def spend() -> int:
        entry = await loyalty.spend_points(
            session,
            merchant_id,
            member_id,
            points,
            reason="alliance_out",
            key=f"{key}:out",
            ref=exchange_id,
        )
        return entry.balance_after

    async def grant() -> None:
        await loyalty.grant_points(
            session,
            way.target,
            target_member,
            points_in,
            reason="alliance_in",
            key=f"{key}:in",
            ref=exchange_id,
        )

    if (merchant_id, member_id) < (way.target, target_member):
        balance_after = await spend()
        await grant()
    else:
        await grant()
        balance_after = await spend()

    day_key = _cap_key(p, merchant_id, day)
    member_key = {**day_key, "member_id": member_id}
    cap = p.member_daily_cap
    if cap is not None and not await repo.take(session, MemberDailyUsage, member_key, points, cap):
        left = cap - await repo.used(session, MemberDailyUsage, member_key)
        raise MemberDailyCapReached(remaining=max(0, left))
    if not await repo.take(session, DailyUsage, day_key, points, p.daily_cap):
        left = p.daily_cap - await repo.used(session, DailyUsage, day_key)
        raise DailyCapReached(remaining=max(0, left))

    row = Exchange(
        id=exchange_id,
        merchant_id=merchant_id,
        member_id=member_id,
        partnership_id=p.id,
        target_merchant_id=way.target,
        target_member_id=target_member,
        points_out=points,
        points_in=points_in,
        day=day,
        created_at=now,
    )
    session.add(row)
    await session.flush()  # the exchange before the entry that references it
    amount = settlement_amount(p, points if way.source_is_proposer else points_in)
    session.add(
        SettlementEntry(
            merchant_id=merchant_id,
            payee_merchant_id=way.target,
            partnership_id=p.id,
            exchange_id=exchange_id,
            points_out=points,
            points_in=points_in,
            amount=amount,
            created_at=now,
        )
    )
    await emit(
        session,
        NamedEvent(
            "alliance.exchanged",
            merchant_id,
            {
                "exchange_id": exchange_id,
                "partnership_id": p.id,
                "target_merchant_id": way.target,
                "points_out": points,
                "points_in": points_in,
            },
            member_id,
        ),
    )
    await session.flush()
    return exchange_out(row, merchant_id, balance_after)


def exchange_out(
    row: Exchange, viewer_merchant_id: str, balance_after: int | None = None
) -> ExchangeOut:
    out = row.merchant_id == viewer_merchant_id
    return ExchangeOut(
        id=row.id,
        partnership_id=row.partnership_id,
        direction="out" if out else "in",
        merchant_id=row.merchant_id,
        partner_merchant_id=row.target_merchant_id if out else row.merchant_id,
        points_out=row.points_out,
        points_in=row.points_in,
        balance_after=balance_after,
        created_at=row.created_at,
    )


async def exchanges_page(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[ExchangeOut], str | None]:
    rows = await repo.exchanges_page(
        session, merchant_id, member_id, limit=page.limit, before_id=page.after_id
    )
    rows, cursor = make_page(rows, page)
    return [exchange_out(r, merchant_id) for r in rows], cursor


# ---- settlement ------------------------------------------------------------------------


async def settlement(
    session: AsyncSession,
    merchant_id: str,
    partnership_id: str,
    start: date | None,
    end: date | None,
) -> SettlementOut:
    """The entries of days `start`..`end` (inclusive, the caller's timezone; default: this
    month so far), their totals and who owes whom on balance."""
    p = await access_partnership(session, merchant_id, partnership_id)
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
    other = _other(p, merchant_id)
    payer, payee = (other, merchant_id) if net > 0 else (merchant_id, other)
    return SettlementOut(
        partnership_id=p.id,
        merchant_id=merchant_id,
        counterparty_merchant_id=other,
        start=start,
        end=end,
        timezone=tz,
        entries=[
            SettlementEntryOut(
                id=r.id,
                exchange_id=r.exchange_id,
                payer_merchant_id=r.merchant_id,
                payee_merchant_id=r.payee_merchant_id,
                points_out=r.points_out,
                points_in=r.points_in,
                amount=r.amount,
                created_at=r.created_at,
            )
            for r in rows
        ],
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
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action="alliance.settlement.export",
        subject_type="alliance_partnership",
        subject_id=report.partnership_id,
        format=fmt,
        start=report.start.isoformat(),
        end=report.end.isoformat(),
        exchanges=report.totals.exchanges,
        net=report.totals.net,
    )
