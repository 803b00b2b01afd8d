from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.identity.models import (
    AdminUser,
    Member,
    MemberActivityDay,
    Merchant,
    PlatformAccount,
)


async def get_merchant(session: AsyncSession, merchant_id: str) -> Merchant | None:
    return await session.get(Merchant, merchant_id)


async def merchant_by_ingest_key(session: AsyncSession, key: str) -> Merchant | None:
    stmt = select(Merchant).where(Merchant.ingest_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def admin_by_email(session: AsyncSession, email: str) -> AdminUser | None:
    stmt = select(AdminUser).where(AdminUser.email == email)
    return (await session.execute(stmt)).scalar_one_or_none()


async def admin_role(session: AsyncSession, admin_id: str, merchant_id: str) -> str | None:
    stmt = select(AdminUser.role).where(
        AdminUser.id == admin_id, AdminUser.merchant_id == merchant_id, AdminUser.active
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def member_status(session: AsyncSession, member_id: str, merchant_id: str) -> str | None:
    stmt = select(Member.status).where(Member.id == member_id, Member.merchant_id == merchant_id)
    return (await session.execute(stmt)).scalar_one_or_none()


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
