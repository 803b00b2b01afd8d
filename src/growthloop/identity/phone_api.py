"""`/v1/me/phone`: a member verifies their phone number through their platform."""

from __future__ import annotations

from fastapi import APIRouter, Response

from growthloop.core.auth import CurrentMember, SessionDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.identity import service
from growthloop.identity.platforms import Platforms
from growthloop.identity.schemas import PhoneIn, PhoneOut

router = APIRouter(route_class=UnitOfWorkRoute, tags=["members"])


@router.post("/v1/me/phone", response_model=PhoneOut)
async def verify_phone(
    body: PhoneIn, member: CurrentMember, session: SessionDep, rt: RuntimeDep
) -> PhoneOut:
    """Verify the member's phone number with the code of the platform's phone-number button
    (WeChat `getPhoneNumber`). A keyed hash lets alliance partners recognise the same
    person; the number itself is stored only encrypted, shown to staff masked, never
    logged."""
    masked = await service.verify_phone(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        platform=body.platform,
        code=body.code,
        adapters=rt.part(Platforms),
        secret=rt.settings.secret_key,
    )
    return PhoneOut(phone=masked)


@router.delete("/v1/me/phone", status_code=204, response_class=Response)
async def remove_phone(member: CurrentMember, session: SessionDep) -> Response:
    await service.remove_phone(session, merchant_id=member.merchant_id, member_id=member.member_id)
    return Response(status_code=204)
