from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, exists, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from growthloop.core.privacy import execute_bulk
from growthloop.identity.models import (
    AdminUser,
    BirthdayCelebration,
    Member,
    MemberActivityDay,
    Merchant,
    PlatformAccount,
)

# Members created by `growthloop import orders`: their account's openid is the CSV's id.
IMPORT_PLATFORM = "import"


async def get_merchant(session: AsyncSession, merchant_id: str) -> Merchant | None:
    return await session.get(Merchant, merchant_id)


async def merchant_by_ingest_key(session: AsyncSession, key: str) -> Merchant | None:
    stmt = select(Merchant).where(Merchant.ingest_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def admin_by_email(session: AsyncSession, email: str) -> AdminUser | None:
    stmt = select(AdminUser).where(AdminUser.email == email)
    return (await session.execute(stmt)).scalar_one_or_none()


# Asked on every authenticated request: built once (building a statement costs more
# than running it on SQLite), bound per call.
_ADMIN_ROLE = select(AdminUser.role).where(
    AdminUser.id == bindparam("admin_id"),
    AdminUser.merchant_id == bindparam("merchant_id"),
    AdminUser.active,
)
_MEMBER_STATUS = select(Member.status).where(
    Member.id == bindparam("member_id"), Member.merchant_id == bindparam("merchant_id")
)


async def admin_role(session: AsyncSession, admin_id: str, merchant_id: str) -> str | None:
    params = {"admin_id": admin_id, "merchant_id": merchant_id}
    return (await session.execute(_ADMIN_ROLE, params)).scalar_one_or_none()


async def member_status(session: AsyncSession, member_id: str, merchant_id: str) -> str | None:
    params = {"member_id": member_id, "merchant_id": merchant_id}
    return (await session.execute(_MEMBER_STATUS, params)).scalar_one_or_none()


async def get_member(session: AsyncSession, member_id: str) -> Member | None:
    return await session.get(Member, member_id)


async def account_by_openid(
    session: AsyncSession, merchant_id: str, platform: str, app_id: str, openid: str
) -> PlatformAccount | None:
    stmt = select(PlatformAccount).where(
        PlatformAccount.merchant_id == merchant_id,
        PlatformAccount.platform == platform,
        PlatformAccount.app_id == app_id,
        PlatformAccount.openid == openid,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def member_id_by_unionid(session: AsyncSession, merchant_id: str, unionid: str) -> str | None:
    stmt = (
        select(PlatformAccount.member_id)
        .where(PlatformAccount.merchant_id == merchant_id, PlatformAccount.unionid == unionid)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def member_id_by_external_id(
    session: AsyncSession, merchant_id: str, external_id: str
) -> str | None:
    """The active member with a platform account whose openid (the dev code is one) or
    unionid is `external_id`: an `import` account first (a re-run finds what the last run
    chose), then the earliest member, so the answer never depends on query plans."""
    stmt = (
        select(PlatformAccount.member_id)
        .join(Member, Member.id == PlatformAccount.member_id)
        .where(
            PlatformAccount.merchant_id == merchant_id,
            or_(PlatformAccount.openid == external_id, PlatformAccount.unionid == external_id),
            Member.status == "active",
        )
        .order_by(PlatformAccount.platform != IMPORT_PLATFORM, Member.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def member_id_by_imported_id(
    session: AsyncSession, merchant_id: str, external_ids: Sequence[str]
) -> str | None:
    """The active member whose history was imported under one of `external_ids`."""
    stmt = (
        select(PlatformAccount.member_id)
        .join(Member, Member.id == PlatformAccount.member_id)
        .where(
            PlatformAccount.merchant_id == merchant_id,
            PlatformAccount.platform == IMPORT_PLATFORM,
            PlatformAccount.openid.in_(list(external_ids)),
            Member.status == "active",
        )
        .order_by(Member.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def accounts_of(session: AsyncSession, member_id: str) -> list[PlatformAccount]:
    stmt = select(PlatformAccount).where(PlatformAccount.member_id == member_id)
    return list((await session.execute(stmt)).scalars())


async def activity_day_exists(
    session: AsyncSession, merchant_id: str, member_id: str, day: date
) -> bool:
    row = await session.get(MemberActivityDay, (merchant_id, member_id, day))
    return row is not None


async def count_activity_days(session: AsyncSession, merchant_id: str, member_id: str) -> int:
    stmt = select(func.count()).where(
        MemberActivityDay.merchant_id == merchant_id, MemberActivityDay.member_id == member_id
    )
    return int((await session.execute(stmt)).scalar_one())


# ---- the same person at other merchants (alliance) ----------------------------------------


async def active_members_by_unionid_of(
    session: AsyncSession, member_id: str, merchant_ids: Collection[str]
) -> list[tuple[str, str]]:
    """(merchant_id, member_id) of the active members at `merchant_ids` with a platform
    account carrying one of `member_id`'s unionids, earliest registered first."""
    unionids = select(PlatformAccount.unionid).where(
        PlatformAccount.member_id == member_id, PlatformAccount.unionid.is_not(None)
    )
    stmt = (
        select(Member.merchant_id, Member.id)
        .join(PlatformAccount, PlatformAccount.member_id == Member.id)
        .where(
            PlatformAccount.merchant_id.in_(list(merchant_ids)),
            PlatformAccount.unionid.in_(unionids),
            Member.status == "active",
        )
        .order_by(Member.id)
    )
    return [(m, i) for m, i in (await session.execute(stmt)).all()]


async def active_members_by_phone_hash(
    session: AsyncSession, phone_hash: str, merchant_ids: Collection[str]
) -> list[tuple[str, str]]:
    """(merchant_id, member_id) of the active members at `merchant_ids` with this
    verified-phone hash, earliest registered first."""
    stmt = (
        select(Member.merchant_id, Member.id)
        .where(
            Member.merchant_id.in_(list(merchant_ids)),
            Member.phone_hash == phone_hash,
            Member.status == "active",
        )
        .order_by(Member.id)
    )
    return [(m, i) for m, i in (await session.execute(stmt)).all()]


# ---- referrals --------------------------------------------------------------------------


async def member_by_referral_code(
    session: AsyncSession, merchant_id: str, code: str
) -> Member | None:
    stmt = select(Member).where(Member.merchant_id == merchant_id, Member.referral_code == code)
    return (await session.execute(stmt)).scalar_one_or_none()


async def referral_code_of(session: AsyncSession, member_id: str) -> str | None:
    stmt = select(Member.referral_code).where(Member.id == member_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _set_once(
    session: AsyncSession, member_id: str, unset: InstrumentedAttribute[Any], **values: Any
) -> bool:
    """Guarded: sets `values` on the member only while `unset` is still NULL; True if it
    did (the first writer wins, concurrent ones change nothing)."""
    stmt = update(Member).where(Member.id == member_id, unset.is_(None)).values(**values)
    return await execute_bulk(session, stmt) == 1


async def set_referral_code_if_missing(session: AsyncSession, member_id: str, code: str) -> bool:
    """A member's code, once given, never changes."""
    return await _set_once(session, member_id, Member.referral_code, referral_code=code)


async def set_referrer_if_unbound(session: AsyncSession, member_id: str, inviter_id: str) -> bool:
    """The first binding wins."""
    return await _set_once(session, member_id, Member.referred_by, referred_by=inviter_id)


async def count_invited(session: AsyncSession, merchant_id: str, member_id: str) -> int:
    stmt = select(func.count()).where(
        Member.merchant_id == merchant_id, Member.referred_by == member_id
    )
    return int((await session.execute(stmt)).scalar_one())


# ---- birthdays --------------------------------------------------------------------------


async def set_birthday_if_missing(
    session: AsyncSession, member_id: str, birthday: date, month_day: int
) -> bool:
    """A member sets their birthday once."""
    return await _set_once(
        session, member_id, Member.birthday, birthday=birthday, birthday_month_day=month_day
    )


async def merchant_timezones(session: AsyncSession) -> list[str]:
    stmt = select(Merchant.timezone).distinct().order_by(Merchant.timezone)
    return list((await session.execute(stmt)).scalars())


async def birthdays_due(
    session: AsyncSession,
    timezone: str,
    month_days: list[int],
    year: int,
    after_id: str,
    limit: int,
) -> list[tuple[str, str]]:
    """(merchant_id, member_id) of active members of merchants in `timezone` whose birthday
    falls on one of `month_days` and was not celebrated in `year`, by member id after
    `after_id`. Uses ix_members_birthday and the celebrations' primary key."""
    celebrated = exists().where(
        BirthdayCelebration.merchant_id == Member.merchant_id,
        BirthdayCelebration.member_id == Member.id,
        BirthdayCelebration.year == year,
    )
    stmt = (
        select(Member.merchant_id, Member.id)
        .join(Merchant, Merchant.id == Member.merchant_id)
        .where(
            Member.birthday_month_day.in_(month_days),
            Merchant.timezone == timezone,
            Member.status == "active",
            Member.id > after_id,
            ~celebrated,
        )
        .order_by(Member.id)
        .limit(limit)
    )
    return [(m, i) for m, i in (await session.execute(stmt)).all()]


async def signup_platform_of(session: AsyncSession, merchant_id: str, member_id: str) -> str | None:
    stmt = select(Member.signup_platform).where(
        Member.id == member_id, Member.merchant_id == merchant_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def external_ids_of(session: AsyncSession, merchant_id: str, member_id: str) -> list[str]:
    """The member's login ids on every end (openid, unionid, the dev code)."""
    stmt = select(PlatformAccount.openid, PlatformAccount.unionid).where(
        PlatformAccount.merchant_id == merchant_id, PlatformAccount.member_id == member_id
    )
    ids: list[str] = []
    for openid, unionid in await session.execute(stmt):
        ids += [i for i in (openid, unionid) if i and i not in ids]
    return ids


async def active_member_ids(session: AsyncSession, merchant_id: str) -> list[str]:
    stmt = select(Member.id).where(Member.merchant_id == merchant_id, Member.status == "active")
    return list((await session.scalars(stmt.order_by(Member.id))).all())


# ---- the members list ------------------------------------------------------------------


def member_conditions(
    merchant_id: str,
    *,
    platform: str | None = None,
    external_id: str | None = None,
    phone_hash: str | None = None,
    phone_ids: Sequence[str] = (),
    within: Select[str] | None = None,
    exclude: bool = False,
) -> list[ColumnElement[bool]]:
    """WHERE clauses for the merchant's active members: with an account on `platform`, with
    `external_id` as an account's openid or unionid, with this verified-phone hash (or one
    of `phone_ids` as an external id: history is often imported by phone number), and in
    (or, `exclude`, not in) the member ids `within` (another domain's subquery)."""
    conditions: list[ColumnElement[bool]] = [
        Member.merchant_id == merchant_id,
        Member.status == "active",
    ]
    if platform is not None:
        conditions.append(
            Member.id.in_(
                select(PlatformAccount.member_id).where(
                    PlatformAccount.merchant_id == merchant_id,
                    PlatformAccount.platform == platform,
                )
            )
        )
    if external_id is not None:
        conditions.append(Member.id.in_(_holders_of(merchant_id, external_id)))
    if phone_hash is not None:
        by_id = Member.id.in_(_holders_of(merchant_id, *phone_ids)) if phone_ids else false()
        conditions.append(or_(Member.phone_hash == phone_hash, by_id))
    if within is not None:
        conditions.append(Member.id.not_in(within) if exclude else Member.id.in_(within))
    return conditions


def _holders_of(merchant_id: str, *external_ids: str) -> Select[str]:
    ids = list(external_ids)
    return select(PlatformAccount.member_id).where(
        PlatformAccount.merchant_id == merchant_id,
        or_(PlatformAccount.openid.in_(ids), PlatformAccount.unionid.in_(ids)),
    )


async def members_page(
    session: AsyncSession,
    conditions: Sequence[ColumnElement[bool]],
    before_id: str | None,
    limit: int,
) -> list[Member]:
    """Newest first (ids are time-sortable), after `before_id`."""
    stmt = select(Member).where(*conditions)
    if before_id is not None:
        stmt = stmt.where(Member.id < before_id)
    return list((await session.scalars(stmt.order_by(Member.id.desc()).limit(limit))).all())


async def member_names(
    session: AsyncSession,
    merchant_id: str,
    conditions: Sequence[ColumnElement[bool]],
    text: str,
    before_id: str | None,
    limit: int,
) -> list[tuple[str, str | None, bool]]:
    """(id, nickname opened, whether `text` is exactly the member's id or one of their
    external ids) of up to `limit` members, newest first after `before_id`: the rows a
    name search reads (a nickname is sealed, so only Python can look inside it)."""
    exact = or_(Member.id == text, Member.id.in_(_holders_of(merchant_id, text)))
    stmt = select(Member.id, Member.nickname, exact).where(*conditions)
    if before_id is not None:
        stmt = stmt.where(Member.id < before_id)
    rows = await session.execute(stmt.order_by(Member.id.desc()).limit(limit))
    return [(member_id, nickname, bool(hit)) for member_id, nickname, hit in rows]


async def members_by_ids(session: AsyncSession, member_ids: Sequence[str]) -> list[Member]:
    if not member_ids:
        return []
    stmt = select(Member).where(Member.id.in_(list(member_ids))).order_by(Member.id.desc())
    return list((await session.scalars(stmt)).all())


async def platforms_of(
    session: AsyncSession, merchant_id: str, member_ids: Sequence[str]
) -> dict[str, list[str]]:
    """member id -> the platforms of its accounts, sorted."""
    out: dict[str, set[str]] = {m: set() for m in member_ids}
    if member_ids:
        stmt = select(PlatformAccount.member_id, PlatformAccount.platform).where(
            PlatformAccount.merchant_id == merchant_id,
            PlatformAccount.member_id.in_(list(member_ids)),
        )
        for member_id, platform in await session.execute(stmt):
            out[member_id].add(platform)
    return {m: sorted(p) for m, p in out.items()}
