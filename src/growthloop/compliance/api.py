from __future__ import annotations

from fastapi import APIRouter, Body

from growthloop.compliance import service
from growthloop.compliance.schemas import (
    ConsentChoices,
    ConsentRecordOut,
    ConsentsOut,
    ConsentsUpdateOut,
    PolicyOut,
)
from growthloop.core.auth import CurrentMember, SessionDep
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["compliance"])


@router.get("/v1/privacy/policy", response_model=PolicyOut)
async def privacy_policy() -> PolicyOut:
    """The current privacy policy: its version and the purposes a member may consent to.
    Public (shown before login) and the same for every merchant."""
    return service.current_policy()


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
