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

from sqlalchemy import delete, or_, update
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
    clear_columns,
    count_member_rows,
    count_rows,
    execute_bulk,
    iso,
    member_row,
    member_rows,
    of_member,
)

ERASED_NOTE = "account_deleted"


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    b, c, w = PromoterBinding, Commission, Withdrawal
    mine = await member_row(session, b, merchant_id, member_id)
    team = await count_member_rows(session, b, merchant_id, member_id, "promoter_id")
    commissions = await member_rows(
        session,
        c,
        merchant_id,
        member_id,
        "id",
        "level",
        "base_amount",
        "percent",
        "amount",
        "status",
        "created_at",
        "settle_at",
        "settled_at",
        "cancelled_at",
        member="promoter_id",
        order_by=c.id,
    )
    account = await session.get(PromoterAccount, (merchant_id, member_id))
    withdrawals = await member_rows(
        session,
        w,
        merchant_id,
        member_id,
        "id",
        "amount",
        "status",
        "created_at",
        "decided_at",
        "note",
        order_by=w.id,
    )
    return {
        # Who brought the member and whom they brought are other members: not named here.
        "bound_to_promoter": None
        if mine is None
        else {"bound_at": iso(mine.bound_at), "expires_at": iso(mine.expires_at)},
        "members_bound_to_me": team,
        "commissions": commissions,
        "account": None
        if account is None
        else {"settled": account.settled, "withdrawn": account.withdrawn},
        "withdrawals": withdrawals,
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
        .where(of_member(c, m, who, "promoter_id"), c.status == "frozen")
        .values(status="cancelled", cancelled_at=now),
    )
    w = Withdrawal
    notes = await clear_columns(session, w, of_member(w, m, who), w.note)
    rejected = (
        await session.execute(
            update(w)
            .where(of_member(w, m, who), w.status == "requested")
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
            update(a).where(of_member(a, m, who)).values(withdrawn=a.withdrawn - given_back),
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
