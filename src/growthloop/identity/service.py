"""Merchants, admins, members and login; referral codes, birthdays, verified phones and
the same person at other merchants. Never commits: the caller's unit of work does (the
birthday sweep, which opens its own, is in `tasks.py`)."""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core import audit, crypto
from growthloop.core.audit import Action
from growthloop.core.auth import PrincipalValidator, Role
from growthloop.core.context import MemberDirectory, MerchantDirectory, merchant_today, now
from growthloop.core.errors import Invalid
from growthloop.core.events import emit
from growthloop.core.ownership import get_owned
from growthloop.core.settings_cache import cached_setting
from growthloop.core.sql import mark_committed
from growthloop.identity import repository as repo
from growthloop.identity.errors import (
    BirthdayAlreadySet,
    EmailTaken,
    InvalidBirthday,
    InvalidCredentials,
    InvalidPhoneCode,
    InvalidTimezone,
    MemberNotFound,
    MerchantNotFound,
    PlatformNotEnabled,
)
from growthloop.identity.events import MemberInvited, MemberLogin, MemberRegistered
from growthloop.identity.models import (
    AdminUser,
    Member,
    MemberActivityDay,
    Merchant,
    PlatformAccount,
)
from growthloop.identity.phone import mask_phone, normalize_phone, phone_hash
from growthloop.identity.platforms import PlatformIdentity, Platforms

_hasher = PasswordHasher()
# Verified against when the email is unknown, so timing does not reveal which emails exist.
_DUMMY_HASH = _hasher.hash("growthloop-no-such-admin")

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


@cache
def _iana_zones() -> frozenset[str]:
    # "localtime" is the host's own zone and "Factory" no place at all: neither is a
    # merchant's timezone, though the zone database lists them.
    return frozenset(available_timezones() - {"localtime", "Factory"})


def check_timezone(tz: str) -> str:
    """An IANA timezone name, spelled exactly as the database does (Asia/Shanghai)."""
    if tz not in _iana_zones():
        raise InvalidTimezone(timezone=tz)
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


async def _own_member(session: AsyncSession, merchant_id: str, member_id: str) -> Member:
    """The member, who must be `merchant_id`'s: 404 otherwise (a member acting on their own
    account never learns whether an id exists at another merchant)."""
    member = await repo.get_member(session, member_id)
    if member is None or member.merchant_id != merchant_id:
        raise MemberNotFound(member_id=member_id)
    return member


async def merchant_name(session: AsyncSession, merchant_id: str) -> str | None:
    merchant = await repo.get_merchant(session, merchant_id)
    return None if merchant is None else merchant.name


# ---- shop settings ------------------------------------------------------------------

SETTINGS_FIELDS = ("name", "timezone", "contact_phone", "contact_email", "logo_url")

# What a timezone change moves. Everything reads the merchant's timezone when it needs a
# day, so the change is in force at once; nothing stored is rewritten.
TIMEZONE_EFFECTS: tuple[tuple[str, str], ...] = (
    (
        "pickup_codes",
        "Pickup numbers (取餐号) start again from 0001 at midnight in the new timezone; the "
        "current day's numbering goes on from that day's last number in the new timezone.",
    ),
    (
        "checkin_and_login_days",
        "Check-in days, streaks and the login days that count towards tiers are the new "
        "timezone's days: around the change a member may check in twice or miss a day.",
    ),
    (
        "birthdays",
        "Birthday greetings and gifts go out on the member's birthday in the new timezone "
        "(still at most once a year).",
    ),
    (
        "daily_limits",
        "Per-day limits (bargain help, lottery draws, flash-sale purchases, alliance daily "
        "caps) reset at midnight in the new timezone.",
    ),
    (
        "points_expiry",
        "Points earned from now on expire at the end of the day in the new timezone; points "
        "already earned keep the expiry they were given.",
    ),
    (
        "analytics",
        "Dashboards, funnels, retention and alerts group days in the new timezone, past days "
        "included: events keep their UTC times and are bucketed when queried.",
    ),
    (
        "order_dates",
        "The order list's from/to dates and `import orders` times without an offset are read "
        "in the new timezone.",
    ),
    ("business_hours", "Business hours are read in the new timezone."),
    (
        "recorded_days",
        "Days already recorded (check-ins, login days, pickup numbers, daily caps used) keep "
        "the day they were recorded under; nothing is re-bucketed.",
    ),
)


@dataclass(frozen=True)
class SettingsChange:
    merchant: Merchant
    changed: list[str]
    effects: list[tuple[str, str]]


async def update_merchant_settings(
    session: AsyncSession, merchant_id: str, admin_id: str, changes: dict[str, Any]
) -> SettingsChange:
    """Apply the fields present in `changes` (None clears contact, logo and hours), write
    one audit entry naming what changed (the values stay out: contacts are personal), and
    say what a timezone change affects. A value equal to the current one is no change."""
    merchant = await get_merchant(session, merchant_id)
    if changes.get("timezone") is not None:
        check_timezone(changes["timezone"])
    changed: list[str] = []
    details: dict[str, Any] = {}
    for field in (*SETTINGS_FIELDS, "business_hours"):
        if field not in changes:
            continue
        value = changes[field]
        if field in ("name", "timezone") and value is None:
            raise Invalid(f"The {field} cannot be cleared.", field=field)
        if getattr(merchant, field) == value:
            continue
        if field == "timezone":
            details |= {"timezone_from": merchant.timezone, "timezone_to": value}
        setattr(merchant, field, value)
        changed.append(field)
    changed.sort()
    if changed:
        await audit.by_admin(
            session,
            merchant_id,
            admin_id,
            Action.MERCHANT_SETTINGS_UPDATE,
            subject_type="merchant",
            subject_id=merchant_id,
            changed=changed,
            **details,
        )
    effects = list(TIMEZONE_EFFECTS) if "timezone" in changed else []
    return SettingsChange(merchant, changed, effects)


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
    created_by: str | None = None,
) -> AdminUser:
    """A staff account; `created_by` is the admin who added it (None: set up with its
    merchant, a system action)."""
    email = normalize_email(email)
    if await repo.admin_by_email(session, email) is not None:
        raise EmailTaken(email=email)
    admin = AdminUser(
        merchant_id=merchant_id,
        email=email,
        password_hash=_hasher.hash(password),
        role=role.value,
        created_at=now(session),
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
        action=Action.ADMIN_CREATE,
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
    """A merchant created at `now` (seeds date it), with its owner."""
    merchant = Merchant(
        name=name.strip(),
        timezone=check_timezone(timezone),
        ingest_key="ik_" + secrets.token_urlsafe(24),
        created_at=now,
    )
    session.add(merchant)
    await session.flush()
    owner = await create_admin(session, merchant.id, admin_email, admin_password, Role.OWNER)
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
    session: AsyncSession, merchant_id: str, member_id: str, day: date
) -> None:
    """The member was active on `day` (the merchant's day), once per day."""
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
    # The account row is the platform's identity as given, owned by the member. Named
    # field by field: a field the adapters add later must not become a column by accident.
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
        MemberInvited(merchant_id=member.merchant_id, member_id=inviter.id, invitee_id=member.id),
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
    member = await _own_member(session, merchant_id, member_id)
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
    if member_id is None and identity.platform != repo.IMPORT_PLATFORM:
        # Imported history (`growthloop import orders`) is this person's once they log in
        # with the platform id it was imported under.
        imported_as = [identity.openid, *([identity.unionid] if identity.unionid else [])]
        member_id = await repo.member_id_by_imported_id(session, merchant_id, imported_as)
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
    adapters: Platforms,
    referrer_code: str | None = None,
    share_code: str | None = None,
) -> LoginResult:
    merchant = await get_merchant(session, merchant_id)
    adapter = adapters.get(platform)
    if adapter is None:
        raise PlatformNotEnabled(platform=platform)
    identity = await adapter.exchange_code(code)
    at = now(session)
    try:
        async with session.begin_nested():
            result = await _find_or_create_member(
                session, merchant.id, identity, at, referrer_code, share_code
            )
            await session.flush()
    except IntegrityError:
        # A concurrent first login of the same user created the account; use it.
        result = await _find_or_create_member(
            session, merchant.id, identity, at, referrer_code, share_code
        )
    member = result.member
    member.last_login_at = at
    day = await merchant_today(session, merchant.id)
    await record_activity(session, merchant.id, member.id, day)
    # Every login carries its codes: a promoter's link binds an existing member too
    # (distribution), and a shared link opened by a member is attributed (share tracking).
    login = MemberLogin(
        merchant_id=merchant.id,
        member_id=member.id,
        platform=platform,
        is_new=result.is_new,
        day=day.isoformat(),
        referrer_code=referrer_code,
        share_code=share_code,
    )
    if result.is_new:
        await emit(session, MemberRegistered(**asdict(login)))
        await bind_referrer(session, member, referrer_code)
    await emit(session, login)
    return result


async def member_for_external_id(
    session: AsyncSession, merchant_id: str, external_id: str, now: datetime
) -> LoginResult:
    """The member behind an external id (bulk imports): the active member one of whose
    platform accounts has it as openid (the `dev` code is one) or unionid; only when there
    is none, a new member with an `import` account under that id."""
    member_id = await repo.member_id_by_external_id(session, merchant_id, external_id)
    if member_id is not None:
        member = await repo.get_member(session, member_id)
        assert member is not None
        return LoginResult(member, is_new=False)
    identity = PlatformIdentity(platform=repo.IMPORT_PLATFORM, app_id="", openid=external_id)
    return await _find_or_create_member(session, merchant_id, identity, now, None, None)


# ---- profile and birthdays ------------------------------------------------------------


async def update_profile(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    *,
    nickname: str | None = None,
    set_nickname: bool = False,
    birthday: date | None = None,
) -> Member:
    """Changes the member's nickname (None clears it when `set_nickname`) and sets their
    birthday, once: sending the same date again is fine, another one is a conflict."""
    member = await _own_member(session, merchant_id, member_id)
    if birthday is not None:
        today = await merchant_today(session, merchant_id)
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


# ---- verified phone numbers (identity.phone) -------------------------------------------


async def verify_phone(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    platform: str | None,
    code: str,
    adapters: Platforms,
    secret: str,
) -> str:
    """Exchange the platform's phone code, keep the number's keyed hash and the number
    encrypted on the member, and return the masked number. `platform` defaults to the one
    the member signed up on."""
    member = await _own_member(session, merchant_id, member_id)
    platform = platform or member.signup_platform
    adapter = adapters.get(platform)
    if adapter is None:
        raise PlatformNotEnabled(platform=platform)
    normalised = normalize_phone(await adapter.exchange_phone_code(code))
    if normalised is None:
        raise InvalidPhoneCode()
    member.phone_hash = phone_hash(secret, normalised)
    member.phone_encrypted = normalised
    await audit.by_member(
        session, member.merchant_id, member.id, Action.MEMBER_PHONE_VERIFIED, platform=platform
    )
    return mask_phone(normalised)


async def remove_phone(session: AsyncSession, *, merchant_id: str, member_id: str) -> None:
    """Withdraw the verified phone: partners no longer recognise the member by it."""
    member = await _own_member(session, merchant_id, member_id)
    if member.phone_hash is None and member.phone_encrypted is None:
        return
    member.phone_hash = None
    member.phone_encrypted = None
    await audit.by_member(session, member.merchant_id, member.id, Action.MEMBER_PHONE_REMOVED)


class IdentityDirectory(MerchantDirectory):
    """The `MerchantDirectory` the app registers for other domains: the merchant's timezone
    reaches them through `core.context.merchant_timezone`, its one door."""

    async def timezone(self, session: AsyncSession, merchant_id: str) -> str:
        async def load() -> str:
            return (await get_merchant(session, merchant_id)).timezone

        return await cached_setting(session, merchant_id, "timezone", load)

    async def by_ingest_key(self, session: AsyncSession, key: str) -> tuple[str, str] | None:
        merchant = await repo.merchant_by_ingest_key(session, key)
        return (merchant.id, merchant.timezone) if merchant else None


class IdentityPrincipals(PrincipalValidator):
    """The `PrincipalValidator` the app registers: tokens of deleted accounts stop working."""

    async def member_active(self, session: AsyncSession, member_id: str, merchant_id: str) -> bool:
        return await repo.member_status(session, member_id, merchant_id) == "active"

    async def admin_role(
        self, session: AsyncSession, admin_id: str, merchant_id: str
    ) -> Role | None:
        role = await repo.admin_role(session, admin_id, merchant_id)
        return Role(role) if role else None


class IdentityMembers(MemberDirectory):
    """The `MemberDirectory` the app registers for the ground-floor domains (the consent
    ledger, analytics, engagement)."""

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


# ---- the members list ------------------------------------------------------------------
#
# Nicknames are sealed at rest with AES-GCM and a random nonce (core.crypto), so SQL cannot
# look inside them: a name search opens the nicknames of the merchant's members in Python,
# newest first, reading at most SCAN_LIMIT members per request (a page can then hold fewer
# matches than asked while `next_cursor` says where to go on). No searchable copy of any
# name is kept: a keyed index of name fragments would let whoever reads the database see
# which members share a surname and count them. A query that is a phone number is looked up
# by the number's keyed hash (identity.phone), the way alliance partners recognise it.

SCAN_LIMIT = 10_000
SCAN_CHUNK = 500


@dataclass(frozen=True)
class MemberSearch:
    """`q`: a phone number (matched by its keyed hash, or as an external id: history is
    often imported by phone number), else text found in the nickname or equal to the
    member's id or one of their external ids. `within`: member ids from another
    domain (a loyalty tier), or every member but those (`exclude`)."""

    q: str | None = None
    external_id: str | None = None
    platform: str | None = None
    within: Select[str] | None = None
    exclude: bool = False


@dataclass(frozen=True)
class MemberSummary:
    id: str
    nickname: str | None
    status: str
    signup_platform: str
    platforms: list[str]
    phone: str | None  # masked: 138****1234
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class MemberAccount:
    platform: str
    linked_at: datetime


@dataclass(frozen=True)
class MemberDetail:
    summary: MemberSummary
    referral_code: str | None
    referred_by: str | None
    accounts: list[MemberAccount]
    active_days: int


def fold_text(text: str) -> str:
    """What a name search compares: full-width forms and case folded (ＡＢ -> ab)."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


async def _summaries(
    session: AsyncSession, merchant_id: str, members: Sequence[Member]
) -> list[MemberSummary]:
    platforms = await repo.platforms_of(session, merchant_id, [m.id for m in members])
    return [
        MemberSummary(
            id=m.id,
            nickname=m.nickname,
            status=m.status,
            signup_platform=m.signup_platform,
            platforms=platforms[m.id],
            phone=crypto.masked(m.phone_encrypted, crypto.mask_phone),
            created_at=m.created_at,
            last_login_at=m.last_login_at,
        )
        for m in members
    ]


async def search_members(
    session: AsyncSession,
    merchant_id: str,
    search: MemberSearch,
    *,
    limit: int,
    before_id: str | None,
    secret: str,
    bounded: bool = True,
) -> tuple[list[MemberSummary], str | None]:
    """The merchant's active members matching `search`, newest first, after `before_id`;
    and the id to continue after, or None at the end. A name search reads at most
    SCAN_LIMIT members, or (`bounded=False`, exports) on until the page is full."""
    phone = normalize_phone(search.q) if search.q else None
    conditions = repo.member_conditions(
        merchant_id,
        platform=search.platform,
        external_id=search.external_id,
        phone_hash=phone_hash(secret, phone) if phone else None,
        phone_ids=sorted({search.q.strip(), phone}) if search.q and phone else (),
        within=search.within,
        exclude=search.exclude,
    )
    if not search.q or phone:
        rows = await repo.members_page(session, conditions, before_id, limit + 1)
        next_id = rows[limit - 1].id if len(rows) > limit else None
        return await _summaries(session, merchant_id, rows[:limit]), next_id
    scan_limit = SCAN_LIMIT if bounded else None
    ids, next_id = await _scan_names(
        session, merchant_id, conditions, search.q, before_id, limit, scan_limit
    )
    rows = await repo.members_by_ids(session, ids)
    return await _summaries(session, merchant_id, rows), next_id


async def _scan_names(
    session: AsyncSession,
    merchant_id: str,
    conditions: Sequence[ColumnElement[bool]],
    q: str,
    before_id: str | None,
    limit: int,
    scan_limit: int | None,
) -> tuple[list[str], str | None]:
    text, exact = fold_text(q), q.strip()
    matched: list[str] = []
    scanned = 0
    cursor = before_id
    while True:
        chunk = SCAN_CHUNK if scan_limit is None else min(SCAN_CHUNK, scan_limit - scanned)
        batch = await repo.member_names(session, merchant_id, conditions, exact, cursor, chunk)
        for member_id, nickname, is_exact in batch:
            if is_exact or (text and nickname is not None and text in fold_text(nickname)):
                matched.append(member_id)
                if len(matched) > limit:
                    return matched[:limit], matched[limit - 1]
            cursor = member_id
        scanned += len(batch)
        if len(batch) < chunk:
            return matched, None
        if scan_limit is not None and scanned >= scan_limit:
            return matched, cursor


async def member_detail(session: AsyncSession, merchant_id: str, member_id: str) -> MemberDetail:
    """404 for no such member, 403 for another merchant's (API.md)."""
    member = await get_owned(
        session, Member, member_id, merchant_id, MemberNotFound(member_id=member_id)
    )
    (summary,) = await _summaries(session, merchant_id, [member])
    accounts = sorted(await repo.accounts_of(session, member_id), key=lambda a: a.created_at)
    return MemberDetail(
        summary=summary,
        referral_code=member.referral_code,
        referred_by=member.referred_by,
        accounts=[MemberAccount(a.platform, a.created_at) for a in accounts],
        active_days=await repo.count_activity_days(session, merchant_id, member_id),
    )


# ---- the same person at other merchants (alliance) --------------------------------------
#
# A member is linked to an active member of another merchant when both carry the same
# platform unionid (on any of their platform accounts) or the same verified-phone hash. A
# unionid match wins over a phone match (the platform vouches for it on every login); among
# several members of one kind, the earliest registered (smallest id) is chosen, so the
# answer never depends on query plans.


async def linked_members(
    session: AsyncSession, member_id: str, at_merchant_ids: Collection[str]
) -> dict[str, str]:
    """For each merchant in `at_merchant_ids`: the member there who is this member's person."""
    member = await repo.get_member(session, member_id)
    merchants = set(at_merchant_ids) - {member.merchant_id} if member else set()
    if member is None or member.status != "active" or not merchants:
        return {}
    found: dict[str, str] = {}
    for merchant_id, other_id in await repo.active_members_by_unionid_of(
        session, member_id, merchants
    ):
        found.setdefault(merchant_id, other_id)
    rest = merchants - found.keys()
    if member.phone_hash and rest:
        for merchant_id, other_id in await repo.active_members_by_phone_hash(
            session, member.phone_hash, rest
        ):
            found.setdefault(merchant_id, other_id)
    return found


async def linked_member(session: AsyncSession, member_id: str, at_merchant_id: str) -> str | None:
    """The active member at `at_merchant_id` with the same unionid or verified phone."""
    return (await linked_members(session, member_id, [at_merchant_id])).get(at_merchant_id)
