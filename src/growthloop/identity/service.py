"""Merchants, admins, members and login. Never commits: the caller's unit of work does."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core import audit
from growthloop.core.auth import Role
from growthloop.core.clock import Clock
from growthloop.core.events import DomainEvent, emit
from growthloop.identity import repository as repo
from growthloop.identity.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidTimezone,
    MemberNotFound,
    MerchantNotFound,
    PlatformNotEnabled,
)
from growthloop.identity.models import (
    AdminUser,
    Member,
    MemberActivityDay,
    Merchant,
    PlatformAccount,
)
from growthloop.identity.platforms import PlatformAdapter, PlatformIdentity

_hasher = PasswordHasher()
# Verified against when the email is unknown, so timing does not reveal which emails exist.
_DUMMY_HASH = _hasher.hash("growthloop-no-such-admin")


@dataclass(frozen=True)
class LoginResult:
    member: Member
    is_new: bool


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_timezone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimezone(timezone=tz) from None
    return tz


async def get_merchant(session: AsyncSession, merchant_id: str) -> Merchant:
    merchant = await repo.get_merchant(session, merchant_id)
    if merchant is None:
        raise MerchantNotFound(merchant_id=merchant_id)
    return merchant


async def merchant_timezone(session: AsyncSession, merchant_id: str) -> str:
    return (await get_merchant(session, merchant_id)).timezone


async def get_admin(session: AsyncSession, admin_id: str) -> AdminUser:
    admin = await session.get(AdminUser, admin_id)
    if admin is None:
        raise InvalidCredentials()
    return admin


async def member_with_platforms(session: AsyncSession, member_id: str) -> tuple[Member, list[str]]:
    member = await repo.get_member(session, member_id)
    if member is None:
        raise MemberNotFound(member_id=member_id)
    accounts = await repo.accounts_of(session, member_id)
    return member, sorted({a.platform for a in accounts})


async def merchant_by_ingest_key(session: AsyncSession, key: str) -> Merchant | None:
    return await repo.merchant_by_ingest_key(session, key)


async def create_admin(
    session: AsyncSession,
    merchant_id: str,
    email: str,
    password: str,
    role: Role,
    now: datetime,
    created_by: str | None = None,
) -> AdminUser:
    email = normalize_email(email)
    if await repo.admin_by_email(session, email) is not None:
        raise EmailTaken(email=email)
    admin = AdminUser(
        merchant_id=merchant_id,
        email=email,
        password_hash=_hasher.hash(password),
        role=role.value,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(admin)
    except IntegrityError:
        raise EmailTaken(email=email) from None
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin" if created_by else "system",
        actor_id=created_by,
        action="admin.create",
        subject_type="admin_user",
        subject_id=admin.id,
        role=role.value,
    )
    return admin


async def create_merchant(
    session: AsyncSession,
    name: str,
    admin_email: str,
    admin_password: str,
    now: datetime,
    timezone: str = "Asia/Shanghai",
) -> tuple[Merchant, AdminUser]:
    merchant = Merchant(
        name=name.strip(),
        timezone=check_timezone(timezone),
        ingest_key="ik_" + secrets.token_urlsafe(24),
        created_at=now,
    )
    session.add(merchant)
    await session.flush()
    owner = await create_admin(session, merchant.id, admin_email, admin_password, Role.OWNER, now)
    return merchant, owner


async def authenticate_admin(session: AsyncSession, email: str, password: str) -> AdminUser:
    admin = await repo.admin_by_email(session, normalize_email(email))
    try:
        _hasher.verify(admin.password_hash if admin else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials() from None
    if admin is None or not admin.active:
        raise InvalidCredentials()
    return admin


async def record_activity(
    session: AsyncSession, merchant_id: str, member_id: str, tz: str, clock: Clock
) -> None:
    day = clock.today(tz)
    if not await repo.activity_day_exists(session, merchant_id, member_id, day):
        try:
            async with session.begin_nested():
                session.add(
                    MemberActivityDay(merchant_id=merchant_id, member_id=member_id, day=day)
                )
        except IntegrityError:
            pass  # a concurrent login recorded the same day


def _link_account(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    identity: PlatformIdentity,
    now: datetime,
) -> None:
    session.add(
        PlatformAccount(
            merchant_id=merchant_id,
            member_id=member_id,
            platform=identity.platform,
            app_id=identity.app_id,
            openid=identity.openid,
            unionid=identity.unionid,
            created_at=now,
        )
    )


async def _find_or_create_member(
    session: AsyncSession,
    merchant_id: str,
    identity: PlatformIdentity,
    now: datetime,
    referrer_code: str | None,
    share_code: str | None,
) -> LoginResult:
    account = await repo.account_by_openid(
        session, merchant_id, identity.platform, identity.app_id, identity.openid
    )
    if account is not None:
        member = await repo.get_member(session, account.member_id)
        if member is not None and member.status == "active":
            if identity.unionid and not account.unionid:
                account.unionid = identity.unionid
            return LoginResult(member, is_new=False)
    # One member across ends: the same unionid on another end is the same person.
    member_id = (
        await repo.member_id_by_unionid(session, merchant_id, identity.unionid)
        if identity.unionid
        else None
    )
    if member_id is not None:
        member = await repo.get_member(session, member_id)
        assert member is not None
        _link_account(session, merchant_id, member.id, identity, now)
        return LoginResult(member, is_new=False)
    member = Member(
        merchant_id=merchant_id,
        status="active",
        signup_platform=identity.platform,
        signup_referrer_code=referrer_code,
        signup_share_code=share_code,
        created_at=now,
    )
    session.add(member)
    await session.flush()
    _link_account(session, merchant_id, member.id, identity, now)
    return LoginResult(member, is_new=True)


async def login_member(
    session: AsyncSession,
    *,
    merchant_id: str,
    platform: str,
    code: str,
    adapters: dict[str, PlatformAdapter],
    clock: Clock,
    referrer_code: str | None = None,
    share_code: str | None = None,
) -> LoginResult:
    merchant = await get_merchant(session, merchant_id)
    adapter = adapters.get(platform)
    if adapter is None:
        raise PlatformNotEnabled(platform=platform)
    identity = await adapter.exchange_code(code)
    now = clock.now()
    try:
        async with session.begin_nested():
            result = await _find_or_create_member(
                session, merchant.id, identity, now, referrer_code, share_code
            )
            await session.flush()
    except IntegrityError:
        # A concurrent first login of the same user created the account; use it.
        result = await _find_or_create_member(
            session, merchant.id, identity, now, referrer_code, share_code
        )
    member = result.member
    member.last_login_at = now
    await record_activity(session, merchant.id, member.id, merchant.timezone, clock)
    payload = {
        "platform": platform,
        "is_new": result.is_new,
        "day": clock.today(merchant.timezone).isoformat(),
    }
    if result.is_new:
        payload |= {"referrer_code": referrer_code, "share_code": share_code}
        await emit(session, DomainEvent("member.registered", merchant.id, payload, member.id))
    await emit(session, DomainEvent("member.login", merchant.id, payload, member.id))
    return result


async def member_for_external_id(
    session: AsyncSession, merchant_id: str, platform: str, external_id: str, now: datetime
) -> LoginResult:
    """The member behind an external id (bulk imports), created when unknown."""
    identity = PlatformIdentity(platform=platform, app_id="", openid=external_id)
    return await _find_or_create_member(session, merchant_id, identity, now, None, None)


class IdentityDirectory:
    """The `MerchantDirectory` the app registers for other domains."""

    async def timezone(self, session: AsyncSession, merchant_id: str) -> str:
        return await merchant_timezone(session, merchant_id)


class IdentityPrincipals:
    """The `PrincipalValidator` the app registers: tokens of deleted accounts stop working."""

    async def member_active(self, session: AsyncSession, member_id: str, merchant_id: str) -> bool:
        return await repo.member_status(session, member_id, merchant_id) == "active"

    async def admin_role(
        self, session: AsyncSession, admin_id: str, merchant_id: str
    ) -> Role | None:
        role = await repo.admin_role(session, admin_id, merchant_id)
        return Role(role) if role else None
