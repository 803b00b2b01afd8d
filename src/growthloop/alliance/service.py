"""Alliance points rules: partnerships between two merchants, and the exchanges their
members make. Never commits. The settlement report between the two is in `settlement`.

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

from dataclasses import dataclass
from datetime import date
from math import gcd
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.alliance import repository as repo
from growthloop.alliance.errors import (
    AwaitingPartner,
    DailyCapReached,
    InvalidPartner,
    MemberDailyCapReached,
    NoLinkedMember,
    PartnershipExists,
    PartnershipNotActive,
    PartnershipNotFound,
    PartnershipStateConflict,
    PointsNotConvertible,
    SuspendedByPartner,
)
from growthloop.alliance.events import AllianceExchanged
from growthloop.alliance.models import (
    DailyUsage,
    Exchange,
    MemberDailyUsage,
    Partnership,
    SettlementEntry,
)
from growthloop.alliance.schemas import PartnerOut, PartnershipIn
from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.context import merchant_today, now
from growthloop.core.errors import Forbidden
from growthloop.core.events import emit
from growthloop.core.ids import new_id
from growthloop.core.pagination import PageParams, fetch_page
from growthloop.core.sql import move_status
from growthloop.identity import service as identity
from growthloop.loyalty import service as loyalty


def other_side(p: Partnership, merchant_id: str) -> str:
    """The partnership's other merchant, seen from `merchant_id`."""
    return p.partner_merchant_id if merchant_id == p.merchant_id else p.merchant_id


# ---- partnerships ----------------------------------------------------------------------


async def propose(
    session: AsyncSession, merchant_id: str, admin_id: str, data: PartnershipIn
) -> Partnership:
    partner_id = data.partner_merchant_id
    if partner_id == merchant_id:
        raise InvalidPartner()
    await identity.get_merchant(session, partner_id)  # 404 merchant_not_found
    at = now(session)
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
            "created_at": at,
            "updated_at": at,
        },
    )
    if not inserted:
        raise PartnershipExists(partnership_id=await repo.open_partnership_id(session, pair))
    partnership = await repo.get_partnership(session, partnership_id)
    assert partnership is not None
    await _audit(session, partnership, merchant_id, admin_id, Action.ALLIANCE_PARTNERSHIP_PROPOSE)
    return partnership


async def access_partnership(
    session: AsyncSession, merchant_id: str, partnership_id: str
) -> Partnership:
    """The partnership, if it exists (404) and `merchant_id` is one of its two sides (403):
    not `core.ownership.get_owned`, as the partner may see it too."""
    partnership = await repo.get_partnership(session, partnership_id)
    if partnership is None:
        raise PartnershipNotFound(partnership_id=partnership_id)
    if merchant_id not in (partnership.merchant_id, partnership.partner_merchant_id):
        raise Forbidden("This partnership is between other merchants.")
    return partnership


async def list_partnerships(
    session: AsyncSession, merchant_id: str, page: PageParams, status: str | None
) -> tuple[list[Partnership], str | None]:
    """Partnerships this merchant proposed or was offered, newest first."""
    stmt = repo.partnerships(merchant_id, status)
    return await fetch_page(session, stmt, Partnership.id, page)


async def audit_partnership(
    session: AsyncSession,
    merchant_id: str,
    admin_id: str,
    action: Action,
    partnership_id: str,
    **details: Any,
) -> None:
    """An operator's audit entry about a partnership (its moves here, its settlement
    exports in `settlement`)."""
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        action,
        subject_type="alliance_partnership",
        subject_id=partnership_id,
        **details,
    )


async def _audit(
    session: AsyncSession, p: Partnership, merchant_id: str, admin_id: str, action: Action
) -> None:
    details = {"counterparty_merchant_id": other_side(p, merchant_id), "status": p.status}
    await audit_partnership(session, merchant_id, admin_id, action, p.id, **details)


@dataclass(frozen=True)
class _Move:
    """A partnership's status move: its audit action, the statuses it starts from and the
    one it ends in."""

    action: Action
    from_statuses: tuple[str, ...]
    status: str


_ACCEPT = _Move(Action.ALLIANCE_PARTNERSHIP_ACCEPT, ("pending",), "active")
_SUSPEND = _Move(Action.ALLIANCE_PARTNERSHIP_SUSPEND, ("active",), "suspended")
_RESUME = _Move(Action.ALLIANCE_PARTNERSHIP_RESUME, ("suspended",), "active")
_END = _Move(Action.ALLIANCE_PARTNERSHIP_END, ("pending", "active", "suspended"), "ended")


async def _move(
    session: AsyncSession,
    p: Partnership,
    merchant_id: str,
    admin_id: str,
    move: _Move,
    **values: Any,
) -> Partnership:
    """Change the status with a guarded UPDATE (a concurrent change wins or loses whole)."""
    at = now(session)
    if not await move_status(session, p, move.from_statuses, move.status, updated_at=at, **values):
        await session.refresh(p)
        raise PartnershipStateConflict(status=p.status, expected=list(move.from_statuses))
    await _audit(session, p, merchant_id, admin_id, move.action)
    return p


async def accept(
    session: AsyncSession, merchant_id: str, admin_id: str, partnership_id: str
) -> Partnership:
    p = await access_partnership(session, merchant_id, partnership_id)
    if merchant_id != p.partner_merchant_id:
        raise AwaitingPartner()
    return await _move(session, p, merchant_id, admin_id, _ACCEPT, accepted_at=now(session))


async def suspend(
    session: AsyncSession, merchant_id: str, admin_id: str, partnership_id: str
) -> Partnership:
    """Either side stops exchanges at once; only that side may resume them."""
    p = await access_partnership(session, merchant_id, partnership_id)
    return await _move(session, p, merchant_id, admin_id, _SUSPEND, suspended_by=merchant_id)


async def resume(
    session: AsyncSession, merchant_id: str, admin_id: str, partnership_id: str
) -> Partnership:
    p = await access_partnership(session, merchant_id, partnership_id)
    if p.status == "suspended" and p.suspended_by != merchant_id:
        raise SuspendedByPartner()
    return await _move(session, p, merchant_id, admin_id, _RESUME, suspended_by=None)


async def end(
    session: AsyncSession, merchant_id: str, admin_id: str, partnership_id: str
) -> Partnership:
    """Either side withdraws a proposal, declines it, or ends the partnership for good; the
    pair may then agree a new one. Its settlement entries stay."""
    p = await access_partnership(session, merchant_id, partnership_id)
    return await _move(session, p, merchant_id, admin_id, _END, open_pair=None)


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
    linked = await identity.linked_members(
        session, member_id, [other_side(p, merchant_id) for p in partnerships]
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
) -> tuple[Exchange, int]:
    """Send `points` of this merchant to the member's linked account at the partner: spend
    here, grant there, record the exchange and its settlement entry, take the caps, all in
    the caller's transaction (an error anywhere leaves nothing written). The exchange and
    the member's points balance right after it."""
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
    target_member = await identity.linked_member(session, member_id, way.target)
    if target_member is None:
        raise NoLinkedMember(partner_merchant_id=way.target)
    at = now(session)
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
        created_at=at,
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
            created_at=at,
        )
    )
    await emit(
        session,
        AllianceExchanged(
            merchant_id=merchant_id,
            member_id=member_id,
            exchange_id=exchange_id,
            partnership_id=p.id,
            target_merchant_id=way.target,
            points_out=points,
            points_in=points_in,
        ),
    )
    await session.flush()
    return row, balance_after


async def list_exchanges(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[Exchange], str | None]:
    """Points the member sent to partners and points that arrived from them, newest first."""
    stmt = repo.exchanges(merchant_id, member_id)
    return await fetch_page(session, stmt, Exchange.id, page)
