from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Query

from growthloop.compliance import deletion, notice, service
from growthloop.compliance.errors import UnknownMerchant
from growthloop.compliance.models import DeletionRequest
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
from growthloop.core.auth import AdminPrincipal, CurrentMember, Permission, SessionDep, require
from growthloop.core.pagination import Page, PageDep, make_page
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.core.schemas import Id, Instant

router = APIRouter(route_class=UnitOfWorkRoute, tags=["compliance"])


@router.get("/v1/privacy/policy", response_model=PolicyOut)
async def privacy_policy() -> PolicyOut:
    """The current privacy policy: its version and the purposes a member may consent to.
    Public (shown before login) and the same for every merchant."""
    return service.current_policy()


@router.get("/v1/privacy/notice")
async def privacy_notice(
    runtime: RuntimeDep,
    session: SessionDep,
    merchant_id: Id | None = Query(None, description="the shop the notice is shown for"),
) -> dict[str, Any]:
    """The privacy notice (zh-CN) rendered from the data map: what is collected, why, on what
    legal basis and for how long; and the fields the platforms' privacy guides ask for. With
    `merchant_id` it names the shop (404 for an unknown one)."""
    registry = runtime.privacy
    name = None
    if merchant_id is not None and registry is not None and registry.merchant_name is not None:
        name = await registry.merchant_name(session, merchant_id)
        if name is None:
            raise UnknownMerchant(merchant_id=merchant_id)
    return notice.render(registry.data_map if registry else None, merchant=name)


@router.get("/v1/me/consents", response_model=ConsentsOut)
async def my_consents(member: CurrentMember, session: SessionDep) -> ConsentsOut:
    return await service.consents_of(session, member.merchant_id, member.member_id)


@router.put("/v1/me/consents", response_model=ConsentsUpdateOut)
async def put_consents(
    member: CurrentMember, session: SessionDep, body: ConsentChoices = Body()
) -> ConsentsUpdateOut:
    changed = await service.set_consents(session, member.merchant_id, member.member_id, body)
    state = await service.consents_of(session, member.merchant_id, member.member_id)
    return ConsentsUpdateOut(**state.model_dump(), changed=changed)


@router.get("/v1/me/consents/history", response_model=Page[ConsentRecordOut])
async def my_consent_history(
    member: CurrentMember, session: SessionDep, page: PageDep
) -> Page[ConsentRecordOut]:
    """Every decision the member made on the privacy policy's purposes, newest first."""
    items, cursor = await service.consent_history(
        session, member.merchant_id, member.member_id, page
    )
    return Page(items=items, next_cursor=cursor)


# ---- export and deletion ------------------------------------------------------------------


def _deletion_out(r: DeletionRequest) -> DeletionOut:
    return DeletionOut(
        request_id=r.id,
        status=r.status,
        requested_at=r.requested_at,
        scheduled_for=r.scheduled_for,
        deadline=r.deadline,
        cancelled_at=r.cancelled_at,
        done_at=r.done_at,
    )


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
    return _deletion_out(request)


@router.get("/v1/me/deletion", response_model=DeletionOut | None)
async def my_deletion(member: CurrentMember, session: SessionDep) -> DeletionOut | None:
    """The member's latest deletion request, or null."""
    request = await deletion.latest_of(session, member.merchant_id, member.member_id)
    return _deletion_out(request) if request else None


@router.post("/v1/me/deletion/cancel", response_model=DeletionOut)
async def cancel_deletion(member: CurrentMember, session: SessionDep) -> DeletionOut:
    return _deletion_out(
        await deletion.cancel_deletion(session, member.merchant_id, member.member_id)
    )


@router.get("/v1/admin/privacy/deletions", response_model=Page[DeletionQueueItem])
async def deletion_queue(
    session: SessionDep,
    page: PageDep,
    status: Literal["pending", "cancelled", "done"] | None = None,
    admin: AdminPrincipal = require(Permission.PRIVACY_HANDLE),
) -> Page[DeletionQueueItem]:
    """Deletion requests, newest first, with when each is due and its legal deadline."""
    rows = await deletion.queue(session, admin.merchant_id, status, page.limit + 1, page.after_id)
    rows, cursor = make_page(rows, page)
    items = [
        DeletionQueueItem(
            **_deletion_out(r).model_dump(), id=r.id, member_id=r.member_id, receipt=r.receipt
        )
        for r in rows
    ]
    return Page(items=items, next_cursor=cursor)


@router.get("/v1/admin/audit", response_model=Page[AuditEntryOut])
async def audit_log(
    session: SessionDep,
    page: PageDep,
    member_id: Id | None = None,
    actor_id: Id | None = None,
    action: str | None = Query(None, max_length=64),
    since: Instant | None = None,
    until: Instant | None = None,
    admin: AdminPrincipal = require(Permission.PRIVACY_HANDLE),
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
    return Page(
        items=[AuditEntryOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=cursor,
    )
