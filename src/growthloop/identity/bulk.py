"""Members carried over in bulk (the demo shop, a shop moving onto growthloop): thousands of
members with their platform accounts in a few statements, each as one login would have made
it, so that the member's next login on that platform finds them.

Nicknames are sealed at rest by the column type, as on every other path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.ids import new_id
from growthloop.core.sql import insert_chunked
from growthloop.identity.models import Member, MemberActivityDay, PlatformAccount


@dataclass(frozen=True)
class Arrival:
    """A member as they first came: by which platform account, when."""

    member_id: str
    platform: str
    openid: str
    joined_at: datetime
    nickname: str | None = None
    unionid: str | None = None
    app_id: str = ""


async def import_members(
    session: AsyncSession, merchant_id: str, arrivals: Sequence[Arrival]
) -> int:
    """Create each member with their platform account; the number created. An account the
    batch names twice is a ValueError before anything is written; one the merchant has
    already fails the insert (the account's unique key), so history goes in once."""
    seen: set[tuple[str, str, str]] = set()
    for a in arrivals:
        key = (a.platform, a.app_id, a.openid)
        if not a.platform or not a.openid or key in seen:
            raise ValueError(f"member {a.member_id}: no or a repeated platform account")
        seen.add(key)
    members = [
        {
            "id": a.member_id,
            "merchant_id": merchant_id,
            "status": "active",
            "nickname": a.nickname,
            "signup_platform": a.platform,
            "created_at": a.joined_at,
            "last_login_at": a.joined_at,
        }
        for a in arrivals
    ]
    accounts = [
        {
            "id": new_id(a.joined_at),
            "merchant_id": merchant_id,
            "member_id": a.member_id,
            "platform": a.platform,
            "app_id": a.app_id,
            "openid": a.openid,
            "unionid": a.unionid,
            "created_at": a.joined_at,
        }
        for a in arrivals
    ]
    await insert_chunked(session, Member, members)  # before the accounts that name them
    await insert_chunked(session, PlatformAccount, accounts)
    return len(members)


async def import_visits(
    session: AsyncSession, merchant_id: str, visits: Iterable[tuple[str, date]]
) -> int:
    """The days each member came (the activity the members list and reports count)."""
    rows = [
        {"merchant_id": merchant_id, "member_id": member_id, "day": day}
        for member_id, day in sorted(set(visits))
    ]
    return await insert_chunked(session, MemberActivityDay, rows)


async def _set(
    session: AsyncSession, merchant_id: str, values: Mapping[str, Mapping[str, Any]]
) -> None:
    """Each member's columns set to their values (member id -> column -> value)."""
    for member_id, columns in values.items():
        await session.execute(
            update(Member)
            .where(Member.merchant_id == merchant_id, Member.id == member_id)
            .values(columns)
            .execution_options(synchronize_session=False)
        )


async def import_last_logins(
    session: AsyncSession, merchant_id: str, last_logins: Mapping[str, datetime]
) -> None:
    """When each member was last seen, where history knows later than their arrival."""
    await _set(session, merchant_id, {m: {"last_login_at": at} for m, at in last_logins.items()})


async def import_birthdays(
    session: AsyncSession, merchant_id: str, birthdays: Mapping[str, date]
) -> None:
    """The birthdays members gave (with the month-day the birthday sweep looks up)."""
    await _set(
        session,
        merchant_id,
        {
            m: {"birthday": born, "birthday_month_day": born.month * 100 + born.day}
            for m, born in birthdays.items()
        },
    )
