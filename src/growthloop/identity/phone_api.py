"""`/v1/me/phone`: a member verifies their phone number through their platform."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StringConstraints

from growthloop.core.auth import CurrentMember, SessionDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.core.schemas import Strict
from growthloop.identity import phone

router = APIRouter(route_class=UnitOfWorkRoute, tags=["members"])


class PhoneIn(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    platform: Literal["wechat", "alipay", "douyin", "app", "dev"] | None = Field(
        None, description="The platform that issued the code; default: the sign-up platform."
    )


class PhoneOut(BaseModel):
    phone: str = Field(description="The verified number, masked (138****1234).")
    verified: bool = True


@router.post("/v1/me/phone", response_model=PhoneOut)
async def verify_phone(
    body: PhoneIn, member: CurrentMember, session: SessionDep, rt: RuntimeDep
) -> PhoneOut:
    """Verify the member's phone number with the code of the platform's phone-number button
    (WeChat `getPhoneNumber`). A keyed hash lets alliance partners recognise the same
    person; the number itself is stored only encrypted, shown to staff masked, never
    logged."""
    masked = await phone.verify_phone(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        platform=body.platform,
        code=body.code,
        adapters=rt.platforms,
        secret=rt.settings.secret_key,
    )
    return PhoneOut(phone=masked)


@router.delete("/v1/me/phone", status_code=204, response_class=Response)
async def remove_phone(member: CurrentMember, session: SessionDep) -> Response:
    await phone.remove_phone(session, merchant_id=member.merchant_id, member_id=member.member_id)
    return Response(status_code=204)
