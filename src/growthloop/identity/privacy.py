"""Identity's part of the data export and of account deletion (注销).

Erased: the member row loses the person (nickname, birthday, phone hash and number, own
and used referral/share codes, who invited them, last login) and turns `deleted`, so every
token issued to it stops working (`IdentityPrincipals.member_active`); every platform
account (openid, unionid) is deleted, its ids handed to the stores outside the database, so
the same platform user logging in later becomes a new member; activity days and birthday
celebrations are deleted.

Kept: the member row itself (id, merchant, signup platform, created_at, status), because
orders, payments and other accounting records refer to it by id; it identifies nobody.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance.registry import Erasure, PrivacyHandler
from growthloop.identity.models import (
    BirthdayCelebration,
    Member,
    MemberActivityDay,
    PlatformAccount,
)

DELETED = "deleted"


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    member = (
        await session.execute(
            select(Member).where(Member.merchant_id == merchant_id, Member.id == member_id)
        )
    ).scalar_one_or_none()
    if member is None:
        return {"profile": None, "platform_accounts": [], "activity_days": []}
    accounts = await session.scalars(
        select(PlatformAccount)
        .where(PlatformAccount.merchant_id == merchant_id, PlatformAccount.member_id == member_id)
        .order_by(PlatformAccount.created_at, PlatformAccount.id)
    )
    days = await session.scalars(
        select(MemberActivityDay.day)
        .where(
            MemberActivityDay.merchant_id == merchant_id,
            MemberActivityDay.member_id == member_id,
        )
        .order_by(MemberActivityDay.day)
    )
    return {
        "profile": {
            "id": member.id,
            "status": member.status,
            "nickname": member.nickname,
            "birthday": _iso(member.birthday),
            "signup_platform": member.signup_platform,
            "referral_code": member.referral_code,
            "invited": member.referred_by is not None,
            "phone_verified": member.phone_hash is not None,
            "phone": member.phone_encrypted,
            "created_at": _iso(member.created_at),
            "last_login_at": _iso(member.last_login_at),
        },
        "platform_accounts": [
            {
                "platform": a.platform,
                "app_id": a.app_id,
                "openid": a.openid,
                "unionid": a.unionid,
                "created_at": _iso(a.created_at),
            }
            for a in accounts
        ],
        "activity_days": [d.isoformat() for d in days],
    }


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    accounts = PlatformAccount.merchant_id == m, PlatformAccount.member_id == who
    for openid, unionid in await session.execute(
        select(PlatformAccount.openid, PlatformAccount.unionid).where(*accounts)
    ):
        erasure.identifiers.update(i for i in (openid, unionid) if i)
    sync = {"synchronize_session": False}
    counts = {
        "platform_accounts": _count(
            await session.execute(delete(PlatformAccount).where(*accounts), execution_options=sync)
        ),
        "activity_days": _count(
            await session.execute(
                delete(MemberActivityDay).where(
                    MemberActivityDay.merchant_id == m, MemberActivityDay.member_id == who
                ),
                execution_options=sync,
            )
        ),
        "birthday_celebrations": _count(
            await session.execute(
                delete(BirthdayCelebration).where(
                    BirthdayCelebration.merchant_id == m, BirthdayCelebration.member_id == who
                ),
                execution_options=sync,
            )
        ),
    }
    stripped = await session.execute(
        update(Member)
        .where(Member.merchant_id == m, Member.id == who)
        .values(
            status=DELETED,
            nickname=None,
            birthday=None,
            birthday_month_day=None,
            phone_hash=None,
            phone_encrypted=None,
            referral_code=None,
            referred_by=None,
            signup_referrer_code=None,
            signup_share_code=None,
            last_login_at=None,
        ),
        execution_options=sync,
    )
    counts["profile_stripped"] = _count(stripped)
    return counts


HANDLER = PrivacyHandler(
    section="identity",
    tables=("members", "platform_accounts", "member_activity_days", "birthday_celebrations"),
    export=export,
    erase=erase,
    keeps=(
        "the member row without any personal field (status 'deleted'): orders and payments "
        "kept for accounting refer to it by id"
    ),
)
