"""Compliance's privacy handlers: its own tables' part of the data export and of account
deletion (注销), and the kernel's records' (the audit log, idempotency keys, stock pool
holders), which no domain above owns.

`privacy` (consents and deletion requests):
- erased: the current consent decisions (`consent_states`), so nothing may use the member's
  data for any purpose any more (no points earned, no marketing) even for events that
  arrive after the erasure;
- kept: the consent ledger, the legally required record of what was consented or refused,
  when and under which policy version (PIPL art. 14/15 and the burden of proof of art. 69);
  it holds nothing about the person beyond the member id, which now names an empty member
  row. The deletion requests stay too: they are the record that the request was carried
  out (with a receipt of counts, never personal data).

`records` (the kernel's tables):
- audit log: entries stay (who did what, when, to which subject: the record PIPL art. 54
  audits rely on), but the `details` of the member's entries become {} unless every detail
  is a known non-personal one (amounts, statuses, purposes, policy versions);
- idempotency keys: rows stored under the member's caller scope are deleted (their stored
  responses are copies of what the member was shown, personal data included);
- stock pool holders: the member's units per flash-sale pool are deleted. They only cap
  what that member id may take, and the erased id can never take again (its tokens are
  dead, a new login is a new member); a unit given back later still returns to the pool.
  The campaign's own purchases remain the truth the pool is reloaded from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance.models import ConsentRecord, ConsentState, DeletionRequest
from growthloop.core import auth
from growthloop.core.audit import AuditEntry
from growthloop.core.idempotency import IdempotencyRecord, digest
from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    count_member_rows,
    delete_by_member,
    execute_bulk,
    member_rows,
    rows,
)
from growthloop.core.stock.sql import StockPoolHolder

# Audit details that never hold personal data: kept on the erased member's entries. Any
# other key (a free-text reason an operator typed, say) blanks the entry's details.
NON_PERSONAL_DETAILS = frozenset(
    {
        "amount",
        "exchanges",
        "fields",
        "granted",
        "issued",
        "net",
        "platform",
        "points",
        "policy_version",
        "purpose",
        "quantity",
        "role",
        "scheduled_for",
        "sections",
        "skipped",
        "source",
        "status",
        "status_before",
        "tracked",
    }
)


def _harmless(value: Any) -> bool:
    if value is None or isinstance(value, bool | int):
        return True
    if isinstance(value, str):
        return len(value) <= 64
    if isinstance(value, list):
        return all(isinstance(v, str | int) and not isinstance(v, bool) for v in value)
    return False


def non_personal(details: dict[str, Any]) -> bool:
    """True if every detail is a known non-personal one with a plain value."""
    return all(k in NON_PERSONAL_DETAILS and _harmless(v) for k, v in details.items())


# ---- consents and deletion requests -------------------------------------------------------


async def export_privacy(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    states = await member_rows(
        session,
        ConsentState,
        merchant_id,
        member_id,
        "purpose",
        "granted",
        "policy_version",
        "platform",
        "updated_at",
        order_by=ConsentState.purpose,
    )
    ledger = await member_rows(
        session,
        ConsentRecord,
        merchant_id,
        member_id,
        "purpose",
        "granted",
        "policy_version",
        "platform",
        "source",
        ConsentRecord.created_at.label("at"),
        order_by=ConsentRecord.id,
    )
    requests = await member_rows(
        session,
        DeletionRequest,
        merchant_id,
        member_id,
        "status",
        "requested_at",
        "scheduled_for",
        "cancelled_at",
        "done_at",
        order_by=DeletionRequest.id,
    )
    return {"consents": states, "consent_history": ledger, "deletion_requests": requests}


async def erase_privacy(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    erased = await delete_by_member(session, m, who, ConsentState)
    kept = await count_member_rows(session, ConsentRecord, m, who)
    return {**erased, "consent_records_kept": kept}


PRIVACY = PrivacyHandler(
    section="privacy",
    tables=("consent_states", "consent_ledger", "deletion_requests"),
    export=export_privacy,
    erase=erase_privacy,
    keeps=(
        "the consent ledger (purpose, decision, time, policy version, platform), the legally "
        "required record of consent, holding nothing beyond the anonymous member id; the "
        "deletion requests, the record that this erasure was carried out"
    ),
)


# ---- the kernel's tables ------------------------------------------------------------------


def _audit_of(merchant_id: str, member_id: str) -> ColumnElement[bool]:
    return and_(
        AuditEntry.merchant_id == merchant_id,
        or_(
            AuditEntry.member_id == member_id,
            and_(AuditEntry.actor_type == "member", AuditEntry.actor_id == member_id),
            and_(AuditEntry.subject_type == "member", AuditEntry.subject_id == member_id),
        ),
    )


def member_scope(member_id: str) -> str:
    """The idempotency scope of the member's requests (`core.auth.caller_scope`, digested
    by `core.routing`)."""
    return digest(auth.member_scope(member_id))


async def export_records(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    a, h = AuditEntry, StockPoolHolder
    entries = await rows(
        session,
        a,
        "action",
        "actor_type",
        "subject_type",
        "subject_id",
        "details",
        a.created_at.label("at"),
        where=_audit_of(merchant_id, member_id),
        order_by=a.id,
    )
    holdings = await rows(session, h, "pool", "units", where=h.holder == member_id, order_by=h.pool)
    return {"audit_log": entries, "stock_holdings": holdings}


async def erase_records(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    entries = (
        await session.execute(select(AuditEntry.id, AuditEntry.details).where(_audit_of(m, who)))
    ).all()
    blank = [i for i, details in entries if details and not non_personal(dict(details))]
    for start in range(0, len(blank), 500):
        await execute_bulk(
            session,
            update(AuditEntry)
            .where(AuditEntry.id.in_(blank[start : start + 500]))
            .values(details={}),
        )
    # Neither table has a merchant column; member ids are unique across merchants.
    keys = delete(IdempotencyRecord).where(IdempotencyRecord.scope == member_scope(who))
    holders = delete(StockPoolHolder).where(StockPoolHolder.holder == who)
    return {
        "audit_entries_kept": len(entries),
        "audit_details_blanked": len(blank),
        "idempotency_keys": await execute_bulk(session, keys),
        "stock_pool_holders": await execute_bulk(session, holders),
    }


RECORDS = PrivacyHandler(
    section="records",
    tables=("audit_log", "idempotency_keys", "stock_pool_holders"),
    export=export_records,
    erase=erase_records,
    keeps=(
        "audit entries (actor, action, subject, time) with personal details removed: the "
        "record of who did what and when"
    ),
)

HANDLERS = [PRIVACY, RECORDS]
