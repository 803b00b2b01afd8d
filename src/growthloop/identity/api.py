from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request

from growthloop.core.auth import CurrentAdmin, CurrentMember, SessionDep, SettingsWriter
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.identity import presenters, service
from growthloop.identity.errors import LoginRateLimited
from growthloop.identity.platforms import Platforms
from growthloop.identity.schemas import (
    AdminLoginIn,
    AdminMeOut,
    AdminUserIn,
    AdminUserOut,
    MemberLoginIn,
    MemberLoginOut,
    MemberOut,
    MerchantSettingsChangeOut,
    MerchantSettingsIn,
    MerchantSettingsOut,
    ProfileIn,
    TokenOut,
)

router = APIRouter(route_class=UnitOfWorkRoute)


@router.post("/v1/admin/login", response_model=TokenOut, tags=["auth"])
async def admin_login(
    body: AdminLoginIn, request: Request, session: SessionDep, rt: RuntimeDep
) -> TokenOut:
    client = request.client.host if request.client else "?"
    key = "admin-login:" + service.normalize_email(body.email) + ":" + client
    if not await rt.counters.hit(key, rt.settings.admin_login_attempts_per_minute, 60):
        raise LoginRateLimited()
    admin = await service.authenticate_admin(session, body.email, body.password)
    now = rt.clock.now()
    ttl = timedelta(hours=rt.settings.admin_token_hours)
    token = rt.tokens.issue("admin", admin.id, admin.merchant_id, now, ttl)
    return TokenOut(token=token, expires_at=now + ttl)


@router.post("/v1/auth/login", response_model=MemberLoginOut, tags=["auth"])
async def member_login(body: MemberLoginIn, session: SessionDep, rt: RuntimeDep) -> MemberLoginOut:
    result = await service.login_member(
        session,
        merchant_id=body.merchant_id,
        platform=body.platform,
        code=body.code,
        adapters=rt.part(Platforms),
        referrer_code=body.referrer_code,
        share_code=body.share_code,
    )
    now = rt.clock.now()
    ttl = timedelta(days=rt.settings.member_token_days)
    token = rt.tokens.issue("member", result.member.id, result.member.merchant_id, now, ttl)
    return MemberLoginOut(
        token=token, member_id=result.member.id, is_new=result.is_new, expires_at=now + ttl
    )


@router.get("/v1/me", response_model=MemberOut, tags=["members"])
async def me(member: CurrentMember, session: SessionDep) -> MemberOut:
    return presenters.member_out(*await service.member_with_platforms(session, member.member_id))


@router.patch("/v1/me/profile", response_model=MemberOut, tags=["members"])
async def update_profile(body: ProfileIn, member: CurrentMember, session: SessionDep) -> MemberOut:
    await service.update_profile(
        session,
        member.merchant_id,
        member.member_id,
        nickname=body.nickname,
        set_nickname="nickname" in body.model_fields_set,
        birthday=body.birthday,
    )
    return presenters.member_out(*await service.member_with_platforms(session, member.member_id))


# GET /v1/me/referral is served by campaigns/distribution/api.py: who referred a member
# is also the promoter binding that earns commissions, which identity (a lower floor) does
# not know.


@router.get("/v1/admin/me", response_model=AdminMeOut, tags=["admin"])
async def admin_me(admin: CurrentAdmin, session: SessionDep) -> AdminMeOut:
    merchant = await service.get_merchant(session, admin.merchant_id)
    user = await service.get_admin(session, admin.admin_id)
    return presenters.admin_me_out(user, merchant, admin.role)


@router.post("/v1/admin/users", response_model=AdminUserOut, status_code=201, tags=["admin"])
async def create_admin_user(
    body: AdminUserIn, session: SessionDep, admin: SettingsWriter
) -> AdminUserOut:
    user = await service.create_admin(
        session, admin.merchant_id, body.email, body.password, body.role, created_by=admin.admin_id
    )
    return presenters.admin_out(user)


# ---- shop settings -------------------------------------------------------------------


@router.get("/v1/admin/merchant", response_model=MerchantSettingsOut, tags=["admin"])
async def merchant_settings(admin: CurrentAdmin, session: SessionDep) -> MerchantSettingsOut:
    """The shop's settings: name, timezone, contact, logo and business hours (any staff)."""
    return presenters.settings_out(await service.get_merchant(session, admin.merchant_id))


@router.patch("/v1/admin/merchant", response_model=MerchantSettingsChangeOut, tags=["admin"])
async def update_merchant_settings(
    body: MerchantSettingsIn, session: SessionDep, admin: SettingsWriter
) -> MerchantSettingsChangeOut:
    """Change the shop's settings (owner only; audit-logged). Fields left out stay; null
    clears the contact, the logo or the hours. A timezone change is in force at once and
    `effects` says what it moves (pickup numbers, check-in days, birthdays, reports...).
    422 `invalid_timezone` for a name that is not an IANA timezone."""
    changes = body.model_dump(include=body.model_fields_set)
    if "business_hours" in changes:
        changes["business_hours"] = changes["business_hours"] or None
    change = await service.update_merchant_settings(
        session, admin.merchant_id, admin.admin_id, changes
    )
    return presenters.settings_change_out(change)
