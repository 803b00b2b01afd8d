from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request

from growthloop.core.auth import (
    ROLE_PERMISSIONS,
    AdminPrincipal,
    CurrentAdmin,
    CurrentMember,
    Permission,
    Role,
    SessionDep,
    require,
)
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.identity import service
from growthloop.identity.errors import LoginRateLimited
from growthloop.identity.schemas import (
    AdminLoginIn,
    AdminMeOut,
    AdminUserIn,
    AdminUserOut,
    MemberLoginIn,
    MemberLoginOut,
    MemberOut,
    MerchantOut,
    TokenOut,
)

router = APIRouter(route_class=UnitOfWorkRoute)


def _admin_out(admin: object) -> AdminUserOut:
    return AdminUserOut.model_validate(admin, from_attributes=True)


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
        adapters=rt.platforms,
        clock=rt.clock,
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
    row, platforms = await service.member_with_platforms(session, member.member_id)
    return MemberOut(
        id=row.id,
        nickname=row.nickname,
        signup_platform=row.signup_platform,
        created_at=row.created_at,
        platforms=platforms,
    )


@router.get("/v1/admin/me", response_model=AdminMeOut, tags=["admin"])
async def admin_me(admin: CurrentAdmin, session: SessionDep) -> AdminMeOut:
    merchant = await service.get_merchant(session, admin.merchant_id)
    user = await service.get_admin(session, admin.admin_id)
    return AdminMeOut(
        admin=_admin_out(user),
        merchant=MerchantOut(
            id=merchant.id,
            name=merchant.name,
            timezone=merchant.timezone,
            ingest_key=merchant.ingest_key if admin.role is Role.OWNER else None,
        ),
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[admin.role]),
    )


@router.post("/v1/admin/users", response_model=AdminUserOut, status_code=201, tags=["admin"])
async def create_admin_user(
    body: AdminUserIn,
    session: SessionDep,
    rt: RuntimeDep,
    admin: AdminPrincipal = require(Permission.SETTINGS_WRITE),
) -> AdminUserOut:
    user = await service.create_admin(
        session,
        admin.merchant_id,
        body.email,
        body.password,
        body.role,
        rt.clock.now(),
        created_by=admin.admin_id,
    )
    return _admin_out(user)
