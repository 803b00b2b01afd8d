from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Query

from growthloop.compliance import deletion, presenters, service
from growthloop.compliance.schemas import (
    AuditEntryOut,
    ConsentChoices,
    ConsentRecordOut,
    ConsentsOut,
    ConsentsUpdateOut,
    DeletionOut,
    DeletionQueueItem,
    PolicyOut,
)
from growthloop.core import audit
from growthloop.core.auth import CurrentMember, PrivacyHandler, SessionDep
from growthloop.core.pagination import Page, PageDep, make_page
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.core.schemas import Id, Instant

router = APIRouter(route_class=UnitOfWorkRoute, tags=["compliance"])


@router.get("/v1/privacy/policy", response_model=PolicyOut)
async def privacy_policy() -> PolicyOut:
    """The current privacy policy: its version and the purposes a member may consent to.
    Public (shown before login) and the same for every merchant."""
    return presenters.policy_out()


@router.get("/v1/privacy/notice")
async def privacy_notice(
    session: SessionDep,
    merchant_id: Id | None = Query(None, description="the shop the notice is shown for"),
) -> dict[str, Any]:
    """The privacy notice (zh-CN) rendered from the data map: what is collected, why, on what
    legal basis and for how long; and the fields the platforms' privacy guides ask for. With
    `merchant_id` it names the shop (404 for an unknown one)."""
    return await service.privacy_notice(session, merchant_id)


@router.get("/v1/me/consents", response_model=ConsentsOut)
async def my_consents(member: CurrentMember, session: SessionDep) -> ConsentsOut:
    consents = await service.consents_of(session, member.merchant_id, member.member_id)
    return presenters.consents_out(consents)


@router.put("/v1/me/consents", response_model=ConsentsUpdateOut)
async def put_consents(
    member: CurrentMember, session: SessionDep, body: ConsentChoices = Body()
) -> ConsentsUpdateOut:
    changed = await service.set_consents(session, member.merchant_id, member.member_id, body)
    state = await service.consents_of(session, member.merchant_id, member.member_id)
    return ConsentsUpdateOut(**presenters.consents_out(state).model_dump(), changed=changed)


@router.get("/v1/me/consents/history", response_model=Page[ConsentRecordOut])
async def my_consent_history(
    member: CurrentMember, session: SessionDep, page: PageDep
) -> Page[ConsentRecordOut]:
    """Every decision the member made on the privacy policy's purposes, newest first."""
    rows, cursor = await service.consent_history(
        session, member.merchant_id, member.member_id, page
    )
    return Page(items=[presenters.consent_record_out(r) for r in rows], next_cursor=cursor)


# ---- export and deletion ------------------------------------------------------------------


@router.post("/v1/me/data-export")
async def data_export(member: CurrentMember, session: SessionDep) -> dict[str, Any]:
    """Everything held about the member, one section per domain, as JSON."""
    return await deletion.export_member(session, member.merchant_id, member.member_id)


@router.post("/v1/me/deletion", response_model=DeletionOut)
async def request_deletion(
    member: CurrentMember, session: SessionDep, runtime: RuntimeDep
) -> DeletionOut:
    """Ask for the account to be deleted (注销). It is carried out after the cooling-off
    period (`scheduled_for`) unless cancelled; asking again returns the pending request."""
    request, _ = await deletion.request_deletion(
        session, member.merchant_id, member.member_id, runtime.settings.deletion_cooling_days
    )
    return presenters.deletion_out(request)


@router.get("/v1/me/deletion", response_model=DeletionOut | None)
async def my_deletion(member: CurrentMember, session: SessionDep) -> DeletionOut | None:
    """The member's latest deletion request, or null."""
    request = await deletion.latest_of(session, member.merchant_id, member.member_id)
    return presenters.deletion_out(request) if request else None


@router.post("/v1/me/deletion/cancel", response_model=DeletionOut)
async def cancel_deletion(member: CurrentMember, session: SessionDep) -> DeletionOut:
    return presenters.deletion_out(
        await deletion.cancel_deletion(session, member.merchant_id, member.member_id)
    )


@router.get("/v1/admin/privacy/deletions", response_model=Page[DeletionQueueItem])
async def deletion_queue(
    session: SessionDep,
    page: PageDep,
    admin: PrivacyHandler,
    status: Literal["pending", "cancelled", "done"] | None = None,
) -> Page[DeletionQueueItem]:
    """Deletion requests, newest first, with when each is due and its legal deadline."""
    rows, cursor = await deletion.queue(session, admin.merchant_id, status, page)
    return Page(items=[presenters.deletion_queue_item(r) for r in rows], next_cursor=cursor)


@router.get("/v1/admin/audit", response_model=Page[AuditEntryOut])
async def audit_log(
    session: SessionDep,
    page: PageDep,
    admin: PrivacyHandler,
    member_id: Id | None = None,
    actor_id: Id | None = None,
    action: str | None = Query(None, max_length=64),
    since: Instant | None = None,
    until: Instant | None = None,
) -> Page[AuditEntryOut]:
    """The audit log, newest first: by member, by admin (actor) and by time."""
    rows = await audit.entries(
        session,
        admin.merchant_id,
        member_id=member_id,
        actor_id=actor_id,
        action=action,
        since=since,
        until=until,
        limit=page.limit + 1,
        before_id=page.after_id,
    )
    rows, cursor = make_page(rows, page)
    return Page(items=[presenters.audit_entry_out(r) for r in rows], next_cursor=cursor)
