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

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    delete_by_member,
    execute_bulk,
    iso,
    member_row,
    member_rows,
    of_member,
)
from growthloop.identity.models import (
    BirthdayCelebration,
    Member,
    MemberActivityDay,
    PlatformAccount,
)

DELETED = "deleted"


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    member = await member_row(session, Member, merchant_id, member_id, member="id")
    if member is None:
        return {"profile": None, "platform_accounts": [], "activity_days": []}
    accounts = await member_rows(
        session,
        PlatformAccount,
        merchant_id,
        member_id,
        "platform",
        "app_id",
        "openid",
        "unionid",
        "created_at",
        order_by=(PlatformAccount.created_at, PlatformAccount.id),
    )
    d = MemberActivityDay
    days = await member_rows(session, d, merchant_id, member_id, "day", order_by=d.day)
    return {
        "profile": {
            "id": member.id,
            "status": member.status,
            "nickname": member.nickname,
            "birthday": iso(member.birthday),
            "signup_platform": member.signup_platform,
            "referral_code": member.referral_code,
            "invited": member.referred_by is not None,
            "phone_verified": member.phone_hash is not None,
            "phone": member.phone_encrypted,
            "created_at": iso(member.created_at),
            "last_login_at": iso(member.last_login_at),
        },
        "platform_accounts": accounts,
        "activity_days": [x["day"] for x in days],
    }


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    for openid, unionid in await session.execute(
        select(PlatformAccount.openid, PlatformAccount.unionid).where(
            of_member(PlatformAccount, m, who)
        )
    ):
        erasure.identifiers.update(i for i in (openid, unionid) if i)
    deleted = await delete_by_member(
        session, m, who, PlatformAccount, MemberActivityDay, BirthdayCelebration
    )
    counts = {
        "platform_accounts": deleted["platform_accounts"],
        "activity_days": deleted["member_activity_days"],
        "birthday_celebrations": deleted["birthday_celebrations"],
    }
    counts["profile_stripped"] = await execute_bulk(
        session,
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
    )
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
