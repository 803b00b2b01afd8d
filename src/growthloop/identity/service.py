"""Merchants, admins, members and login. Never commits: the caller's unit of work does."""

from __future__ import annotations

import calendar
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core import audit
from growthloop.core.auth import Role
from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.events import DomainEvent, emit
from growthloop.core.sql import insert_unless_exists, mark_committed
from growthloop.identity import repository as repo
from growthloop.identity.errors import (
    BirthdayAlreadySet,
    EmailTaken,
    InvalidBirthday,
    InvalidCredentials,
    InvalidTimezone,
    MemberNotFound,
    MerchantNotFound,
    PlatformNotEnabled,
)
from growthloop.identity.models import (
    AdminUser,
    BirthdayCelebration,
    Member,
    MemberActivityDay,
    Merchant,
    PlatformAccount,
)
from growthloop.identity.platforms import PlatformAdapter, PlatformIdentity

_hasher = PasswordHasher()
# Verified against when the email is unknown, so timing does not reveal which emails exist.
_DUMMY_HASH = _hasher.hash("growthloop-no-such-admin")

MEMBER_INVITED = "member.invited"
MEMBER_BIRTHDAY = "member.birthday"

# Referral codes are read aloud and typed from posters: no 0/O or 1/I. 32**8 codes.
REFERRAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
REFERRAL_CODE_LENGTH = 8
_CODE_ATTEMPTS = 8
EARLIEST_BIRTHDAY = date(1900, 1, 1)


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


# ---- referral codes ----------------------------------------------------------------------


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


def normalize_referral_code(code: str) -> str:
    return code.strip().upper()


async def _add_with_referral_code(session: AsyncSession, member: Member) -> None:
    """Inserts a new member with a random referral code, drawing again on a collision."""
    for attempt in range(_CODE_ATTEMPTS):
        member.referral_code = new_referral_code()
        try:
            async with session.begin_nested():
                session.add(member)
                await session.flush()
            return
        except IntegrityError:
            if attempt == _CODE_ATTEMPTS - 1:
                raise


async def ensure_referral_code(session: AsyncSession, member_id: str) -> str:
    """The member's referral code, given now to a member created before codes existed."""
    for attempt in range(_CODE_ATTEMPTS):
        code = new_referral_code()
        try:
            async with session.begin_nested():
                assigned = await repo.set_referral_code_if_missing(session, member_id, code)
        except IntegrityError:  # another member holds this code
            if attempt == _CODE_ATTEMPTS - 1:
                raise
            continue
        if assigned:
            return code
        existing = await repo.referral_code_of(session, member_id)  # given concurrently
        if existing is None:
            raise MemberNotFound(member_id=member_id)
        return existing
    raise AssertionError("unreachable")


async def bind_referrer(session: AsyncSession, member: Member, code: str | None) -> str | None:
    """Binds `member` to the member whose referral code `code` is and emits `member.invited`
    (member_id = the inviter, payload {"invitee_id"}); returns the inviter's id. A missing,
    unknown or own code, or a member already bound (the first binding wins), binds nothing
    and is not an error: login never fails because of a code. Every referral binding goes
    through here, so binding windows and cycle checks belong here too."""
    if not code:
        return None
    inviter = await repo.member_by_referral_code(
        session, member.merchant_id, normalize_referral_code(code)
    )
    if inviter is None or inviter.id == member.id or inviter.status != "active":
        return None
    if not await repo.set_referrer_if_unbound(session, member.id, inviter.id):
        return None
    mark_committed(member, referred_by=inviter.id)
    await emit(
        session,
        DomainEvent(MEMBER_INVITED, member.merchant_id, {"invitee_id": member.id}, inviter.id),
    )
    return inviter.id


async def member_for_referral_code(
    session: AsyncSession, merchant_id: str, code: str | None
) -> str | None:
    """The id of the active member of this merchant whose referral code `code` is."""
    if not code:
        return None
    member = await repo.member_by_referral_code(session, merchant_id, normalize_referral_code(code))
    return member.id if member is not None and member.status == "active" else None


@dataclass(frozen=True)
class Referral:
    referrer_code: str | None
    invited_count: int
    referred_by: str | None


async def referral_of(session: AsyncSession, merchant_id: str, member_id: str) -> Referral:
    member = await repo.get_member(session, member_id)
    if member is None or member.merchant_id != merchant_id:
        raise MemberNotFound(member_id=member_id)
    return Referral(
        referrer_code=member.referral_code,
        invited_count=await repo.count_invited(session, merchant_id, member_id),
        referred_by=member.referred_by,
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
    await _add_with_referral_code(session, member)
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
        await bind_referrer(session, member, referrer_code)
    # Every login carries its codes: a promoter's link binds an existing member too
    # (distribution), and a shared link opened by a member is attributed (share tracking).
    payload |= {"referrer_code": referrer_code, "share_code": share_code}
    await emit(session, DomainEvent("member.login", merchant.id, payload, member.id))
    return result


async def member_for_external_id(
    session: AsyncSession, merchant_id: str, platform: str, external_id: str, now: datetime
) -> LoginResult:
    """The member behind an external id (bulk imports), created when unknown."""
    identity = PlatformIdentity(platform=platform, app_id="", openid=external_id)
    return await _find_or_create_member(session, merchant_id, identity, now, None, None)


# ---- profile and birthdays ------------------------------------------------------------


async def update_profile(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    clock: Clock,
    *,
    nickname: str | None = None,
    set_nickname: bool = False,
    birthday: date | None = None,
) -> Member:
    """Changes the member's nickname (None clears it when `set_nickname`) and sets their
    birthday, once: sending the same date again is fine, another one is a conflict."""
    member = await repo.get_member(session, member_id)
    if member is None or member.merchant_id != merchant_id:
        raise MemberNotFound(member_id=member_id)
    if birthday is not None:
        today = clock.today(await merchant_timezone(session, merchant_id))
        if not EARLIEST_BIRTHDAY <= birthday <= today:
            raise InvalidBirthday(birthday=birthday.isoformat())
        month_day = birthday.month * 100 + birthday.day
        if await repo.set_birthday_if_missing(session, member_id, birthday, month_day):
            mark_committed(member, birthday=birthday, birthday_month_day=month_day)
        else:
            await session.refresh(member, ["birthday", "birthday_month_day"])
            if member.birthday != birthday:
                raise BirthdayAlreadySet()
    if set_nickname:
        member.nickname = nickname
    return member


def birthday_month_days(day: date) -> list[int]:
    """The birthdays (month * 100 + day) celebrated on `day`: 29 February is celebrated on
    28 February in years without one."""
    month_days = [day.month * 100 + day.day]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        month_days.append(229)
    return month_days


async def celebrate_birthdays(db: Database, clock: Clock, batch_size: int = 500) -> int:
    """Sweep: `member.birthday` (payload {"year", "day"}) for every active member whose
    birthday is today in their merchant's timezone, at most once per member and year (a
    `birthday_celebrations` row claims it, so concurrent workers and reruns emit nothing
    twice). Members are read in batches through an index, one transaction per batch."""
    async with db.unit_of_work(write=False) as uow:
        timezones = await repo.merchant_timezones(uow.session)
    emitted = 0
    for tz in timezones:
        today = clock.today(tz)
        month_days = birthday_month_days(today)
        payload = {"year": today.year, "day": today.isoformat()}
        after = ""
        while True:
            async with db.unit_of_work() as uow:
                s = uow.session
                due = await repo.birthdays_due(s, tz, month_days, today.year, after, batch_size)
                batch = 0
                for merchant_id, member_id in due:
                    key = {"merchant_id": merchant_id, "member_id": member_id, "year": today.year}
                    if await insert_unless_exists(s, BirthdayCelebration, key, tuple(key)):
                        event = DomainEvent(MEMBER_BIRTHDAY, merchant_id, dict(payload), member_id)
                        await emit(s, event)
                        batch += 1
            emitted += batch
            if len(due) < batch_size:
                break
            after = due[-1][1]
    return emitted


class IdentityDirectory:
    """The `MerchantDirectory` the app registers for other domains."""

    async def timezone(self, session: AsyncSession, merchant_id: str) -> str:
        return await merchant_timezone(session, merchant_id)

    async def by_ingest_key(self, session: AsyncSession, key: str) -> tuple[str, str] | None:
        merchant = await repo.merchant_by_ingest_key(session, key)
        return (merchant.id, merchant.timezone) if merchant else None


class IdentityPrincipals:
    """The `PrincipalValidator` the app registers: tokens of deleted accounts stop working."""

    async def member_active(self, session: AsyncSession, member_id: str, merchant_id: str) -> bool:
        return await repo.member_status(session, member_id, merchant_id) == "active"

    async def admin_role(
        self, session: AsyncSession, admin_id: str, merchant_id: str
    ) -> Role | None:
        role = await repo.admin_role(session, admin_id, merchant_id)
        return Role(role) if role else None


class IdentityMembers:
    """The `MemberDirectory` the app registers for the consent ledger."""

    async def signup_platform(
        self, session: AsyncSession, merchant_id: str, member_id: str
    ) -> str | None:
        return await repo.signup_platform_of(session, merchant_id, member_id)

    async def external_ids(
        self, session: AsyncSession, merchant_id: str, member_id: str
    ) -> list[str]:
        return await repo.external_ids_of(session, merchant_id, member_id)

    async def active_member_ids(self, session: AsyncSession, merchant_id: str) -> list[str]:
        return await repo.active_member_ids(session, merchant_id)

    async def birthday(
        self, session: AsyncSession, merchant_id: str, member_id: str
    ) -> date | None:
        member = await repo.get_member(session, member_id)
        return member.birthday if member and member.merchant_id == merchant_id else None
