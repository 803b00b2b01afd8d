"""Distribution's (分销) part of the data export and of account deletion (注销).

Erased:
- every promoter binding of the member, as the one bound (who brought them) and as the
  promoter (who they brought): the relationships between people go. The members they had
  brought are free to be bound by someone else, and their later orders earn the erased
  member nothing (nor, through them, a level-2 promoter);
- the member's commissions still `frozen` are cancelled (`cancelled_at` = the erasure):
  they were never earned into the account, and no one can withdraw them any more;
- withdrawals still `requested` are rejected (no decider, note `account_deleted`) and their
  amount goes back to the account: with the platform ids gone there is no one to pay, and
  the account keeps `withdrawn` equal to what was requested or paid out;
- the operators' free-text notes on the member's withdrawals (they may name the payee).

Kept, for accounting (money promised or paid by the merchant): settled and cancelled
commissions with their amounts, the promoter account (`settled` and `withdrawn`, whose
difference is the balance the member forfeits) and every withdrawal (amount, status,
times, who decided). Commissions that other promoters earned on the member's orders stay
as they are: those orders are kept for accounting, and the promoter earned them. The
member id in these rows stays as the id of the member row the identity handler empties of
the person (orders keep it the same way): it identifies nobody.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.distribution.models import (
    Commission,
    PromoterAccount,
    PromoterBinding,
    Withdrawal,
)
from growthloop.core.privacy import (
    SYNC_OFF,
    Erasure,
    PrivacyHandler,
    count_rows,
    execute_bulk,
    iso,
)

ERASED_NOTE = "account_deleted"


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    b = PromoterBinding
    mine = (
        await session.execute(
            select(b).where(b.merchant_id == merchant_id, b.member_id == member_id)
        )
    ).scalar_one_or_none()
    team = await count_rows(session, b, b.merchant_id == merchant_id, b.promoter_id == member_id)
    c = Commission
    commissions = await session.scalars(
        select(c).where(c.merchant_id == merchant_id, c.promoter_id == member_id).order_by(c.id)
    )
    account = await session.get(PromoterAccount, (merchant_id, member_id))
    w = Withdrawal
    withdrawals = await session.scalars(
        select(w).where(w.merchant_id == merchant_id, w.member_id == member_id).order_by(w.id)
    )
    return {
        # Who brought the member and whom they brought are other members: not named here.
        "bound_to_promoter": None
        if mine is None
        else {"bound_at": iso(mine.bound_at), "expires_at": iso(mine.expires_at)},
        "members_bound_to_me": team,
        "commissions": [
            {
                "id": x.id,
                "level": x.level,
                "base_amount": x.base_amount,
                "percent": x.percent,
                "amount": x.amount,
                "status": x.status,
                "created_at": iso(x.created_at),
                "settle_at": iso(x.settle_at),
                "settled_at": iso(x.settled_at),
                "cancelled_at": iso(x.cancelled_at),
            }
            for x in commissions
        ],
        "account": None
        if account is None
        else {"settled": account.settled, "withdrawn": account.withdrawn},
        "withdrawals": [
            {
                "id": x.id,
                "amount": x.amount,
                "status": x.status,
                "created_at": iso(x.created_at),
                "decided_at": iso(x.decided_at),
                "note": x.note,
            }
            for x in withdrawals
        ],
    }


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who, now = erasure.merchant_id, erasure.member_id, erasure.now
    b = PromoterBinding
    bindings = await execute_bulk(
        session, delete(b).where(b.merchant_id == m, or_(b.member_id == who, b.promoter_id == who))
    )
    c = Commission
    # Guarded on the status: a settlement sweep that got there first keeps its commission.
    cancelled = await execute_bulk(
        session,
        update(c)
        .where(c.merchant_id == m, c.promoter_id == who, c.status == "frozen")
        .values(status="cancelled", cancelled_at=now),
    )
    w = Withdrawal
    notes = await execute_bulk(
        session,
        update(w)
        .where(w.merchant_id == m, w.member_id == who, w.note.is_not(None))
        .values(note=None),
    )
    rejected = (
        await session.execute(
            update(w)
            .where(w.merchant_id == m, w.member_id == who, w.status == "requested")
            .values(status="rejected", decided_at=now, decided_by=None, note=ERASED_NOTE)
            .returning(w.amount),
            execution_options=SYNC_OFF,
        )
    ).all()
    given_back = sum(int(amount) for (amount,) in rejected)
    if given_back:
        a = PromoterAccount
        await execute_bulk(
            session,
            update(a)
            .where(a.merchant_id == m, a.member_id == who)
            .values(withdrawn=a.withdrawn - given_back),
        )
    kept = await count_rows(
        session, c, c.merchant_id == m, or_(c.promoter_id == who, c.buyer_id == who)
    )
    return {
        "promoter_bindings": bindings,
        "commissions_cancelled": cancelled,
        "commissions_kept": kept,
        "withdrawals_rejected": len(rejected),
        "withdrawal_notes_cleared": notes,
    }


HANDLER = PrivacyHandler(
    section="distribution",
    tables=(
        PromoterBinding.__tablename__,
        Commission.__tablename__,
        PromoterAccount.__tablename__,
        Withdrawal.__tablename__,
    ),
    export=export,
    erase=erase,
    keeps=(
        "settled and cancelled commissions, the promoter account and the withdrawals, for "
        "accounting (frozen commissions cancelled, pending withdrawals rejected, bindings "
        "deleted); commissions others earned on the member's kept orders; all refer only "
        "to the anonymous member row"
    ),
)
