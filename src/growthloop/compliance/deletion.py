"""Account deletion (注销) and the data export, over the domains' privacy handlers.

A deletion request waits out its cooling-off period (default 7 days; the member may cancel
until then), always within the 15 working days the rules allow. It is carried out by the
worker's sweep or `growthloop compliance run-due [--now]`:

1. one transaction: every handler erases its rows of the member (or strips the person from
   rows kept for accounting); the stores outside the database (the event store) forget every
   identifier the handlers collected; the request is marked done with a receipt of counts
   and an audit entry records it. A failure anywhere rolls it all back and the request
   stays pending for the next sweep;
2. after the commit, the embedded database gives back its freed pages and write-ahead log
   (`secure_delete`, a truncating checkpoint), so no byte of the member is left in the data
   directory.

Service functions never commit, except `carry_out`, which owns its units of work.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance.errors import NoDeletionPending
from growthloop.compliance.models import DeletionRequest
from growthloop.compliance.policy import POLICY_VERSION
from growthloop.compliance.registry import PrivacyRegistry, registry_of
from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.clock import Clock
from growthloop.core.context import now
from growthloop.core.db import Database
from growthloop.core.pagination import PageParams, fetch_page
from growthloop.core.privacy import Erasure

log = logging.getLogger("growthloop.compliance")

LEGAL_WORKING_DAYS = 15


def working_days_after(start: datetime, days: int) -> datetime:
    """`days` working days (Monday to Friday) after `start`."""
    at, left = start, days
    while left:
        at += timedelta(days=1)
        if at.weekday() < 5:
            left -= 1
    return at


async def pending_of(
    session: AsyncSession, merchant_id: str, member_id: str
) -> DeletionRequest | None:
    stmt = select(DeletionRequest).where(
        DeletionRequest.merchant_id == merchant_id,
        DeletionRequest.member_id == member_id,
        DeletionRequest.status == "pending",
    )
    return (await session.execute(stmt)).scalars().first()


async def request_deletion(
    session: AsyncSession, merchant_id: str, member_id: str, cooling_days: int
) -> tuple[DeletionRequest, bool]:
    """The member's pending request, made now unless one is pending; (request, created)."""
    existing = await pending_of(session, merchant_id, member_id)
    if existing is not None:
        return existing, False
    at = now(session)
    deadline = working_days_after(at, LEGAL_WORKING_DAYS)
    request = DeletionRequest(
        merchant_id=merchant_id,
        member_id=member_id,
        status="pending",
        requested_at=at,
        scheduled_for=min(at + timedelta(days=cooling_days), deadline),
        deadline=deadline,
    )
    session.add(request)
    await session.flush()
    await audit.by_member(
        session,
        merchant_id,
        member_id,
        Action.DELETION_REQUEST,
        subject_type="deletion_request",
        subject_id=request.id,
        scheduled_for=request.scheduled_for.isoformat(),
    )
    return request, True


async def cancel_deletion(
    session: AsyncSession, merchant_id: str, member_id: str
) -> DeletionRequest:
    request = await pending_of(session, merchant_id, member_id)
    if request is None:
        raise NoDeletionPending()
    request.status = "cancelled"
    request.cancelled_at = now(session)
    await audit.by_member(
        session,
        merchant_id,
        member_id,
        Action.DELETION_CANCEL,
        subject_type="deletion_request",
        subject_id=request.id,
    )
    return request


async def latest_of(
    session: AsyncSession, merchant_id: str, member_id: str
) -> DeletionRequest | None:
    stmt = (
        select(DeletionRequest)
        .where(DeletionRequest.merchant_id == merchant_id, DeletionRequest.member_id == member_id)
        .order_by(DeletionRequest.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def queue(
    session: AsyncSession, merchant_id: str, status: str | None, page: PageParams
) -> tuple[list[DeletionRequest], str | None]:
    """The merchant's deletion requests, newest first."""
    stmt = select(DeletionRequest).where(DeletionRequest.merchant_id == merchant_id)
    if status:
        stmt = stmt.where(DeletionRequest.status == status)
    return await fetch_page(session, stmt, DeletionRequest.id, page)


# ---- the export ------------------------------------------------------------------------


async def export_member(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    """Everything held about the member, a section per domain."""
    registry = registry_of(session)
    sections: dict[str, Any] = {}
    for handler in registry.handlers:
        sections[handler.section] = await handler.export(session, merchant_id, member_id)
    await audit.by_member(
        session,
        merchant_id,
        member_id,
        Action.DATA_EXPORT,
        subject_type="member",
        subject_id=member_id,
        sections=sorted(sections),
    )
    return {
        "member_id": member_id,
        "merchant_id": merchant_id,
        "generated_at": now(session).isoformat(),
        "policy_version": POLICY_VERSION,
        "sections": sections,
    }


# ---- carrying it out -------------------------------------------------------------------


async def carry_out(
    db: Database, registry: PrivacyRegistry, clock: Clock, request_id: str
) -> dict[str, Any] | None:
    """Erase the member of one due request; the receipt, or None if it is no longer pending."""
    erasure: Erasure | None = None
    try:
        async with db.unit_of_work() as uow:
            s = uow.session
            stmt = (
                select(DeletionRequest)
                .where(DeletionRequest.id == request_id, DeletionRequest.status == "pending")
                .with_for_update(skip_locked=True)
            )
            request = (await s.execute(stmt)).scalars().first()
            if request is None:
                return None
            at = clock.now()
            erasure = Erasure(request.merchant_id, request.member_id, at)
            erased: dict[str, Any] = {}
            for handler in registry.handlers:
                counts = await handler.erase(s, erasure)
                erased[handler.section] = {"erased": counts, "keeps": handler.keeps}
            receipt: dict[str, Any] = {
                "request_id": request.id,
                "requested_at": request.requested_at.isoformat(),
                "carried_out_at": at.isoformat(),
                "sections": erased,
                "stores": {},
            }
            # The stores outside the database forget the member before the commit: if one
            # fails, the transaction rolls back and the request stays pending for the next
            # sweep, with every identifier still there to find. (A store erased and a commit
            # lost is harmless: the retry finds nothing more to rewrite.)
            for name, eraser in registry.stores.items():
                receipt["stores"][name] = await eraser(erasure)
            request.status = "done"
            request.done_at = at
            request.receipt = receipt
            await audit.record(
                s,
                merchant_id=request.merchant_id,
                actor_type="system",
                actor_id=None,
                action=Action.MEMBER_ERASE,
                subject_type="deletion_request",
                subject_id=request.id,
                member_id=request.member_id,
                sections=sorted(erased),
            )
    finally:
        if erasure is not None:
            for done in erasure.when_done:
                await done()
    for hook in registry.after_erasure:
        await hook()
    return receipt


async def run_due(
    db: Database, clock: Clock, registry: PrivacyRegistry, *, every: bool = False
) -> int:
    """Carry out the requests whose cooling-off period is over (with `every`, all pending)."""
    async with db.unit_of_work(write=False) as uow:
        stmt = select(DeletionRequest.id).where(DeletionRequest.status == "pending")
        if not every:
            stmt = stmt.where(DeletionRequest.scheduled_for <= clock.now())
        due = list(
            (await uow.session.execute(stmt.order_by(DeletionRequest.scheduled_for))).scalars()
        )
    done = 0
    for request_id in due:
        try:
            if await carry_out(db, registry, clock, request_id) is not None:
                done += 1
        except Exception:  # this one is retried next time; the others go on
            log.exception("account erasure failed", extra={"request_id": request_id})
    return done
