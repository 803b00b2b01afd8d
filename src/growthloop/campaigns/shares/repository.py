"""Every query of the share tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.shares.models import ShareCode, ShareVisit
from growthloop.core.pagination import PageParams, make_page
from growthloop.core.sql import insert_unless_exists


async def share_of(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    target_type: str,
    target_id: str,
    channel: str,
) -> ShareCode | None:
    """The member's code for this target and channel, if they have one."""
    stmt = select(ShareCode).where(
        ShareCode.merchant_id == merchant_id,
        ShareCode.member_id == member_id,
        ShareCode.target_type == target_type,
        ShareCode.target_id == target_id,
        ShareCode.channel == channel,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_share(session: AsyncSession, row: ShareCode) -> bool:
    """Insert `row`; False (and nothing written) when its code or its (member, target,
    channel) is taken."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def add_visit(session: AsyncSession, values: dict[str, object]) -> bool:
    """Record a visit, unless one with its code, kind and reference exists."""
    return await insert_unless_exists(session, ShareVisit, values, ["code", "kind", "ref"])


async def shares_page(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[ShareCode], str | None]:
    """The member's codes in code order; the cursor is the last code seen."""
    stmt = select(ShareCode).where(
        ShareCode.merchant_id == merchant_id, ShareCode.member_id == member_id
    )
    if page.after_id is not None:
        stmt = stmt.where(ShareCode.code > page.after_id)
    rows = list(
        (await session.execute(stmt.order_by(ShareCode.code).limit(page.limit + 1))).scalars()
    )
    return make_page(rows, page, id_of="code")


async def visit_counts(session: AsyncSession, codes: list[str]) -> dict[tuple[str, str], int]:
    """Visits per (code, kind)."""
    if not codes:
        return {}
    v = ShareVisit
    stmt = select(v.code, v.kind, func.count()).where(v.code.in_(codes)).group_by(v.code, v.kind)
    return {(c, k): int(n) for c, k, n in await session.execute(stmt)}


async def last_touch(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    kinds: tuple[str, ...],
    since: datetime,
    target_id: str | None = None,
) -> ShareCode | None:
    """The other member's share the member last came through (a visit of `kinds` since
    `since`), on `target_id` if given."""
    stmt = _LAST_TOUCH_ON if target_id is not None else _LAST_TOUCH
    params = {"m": merchant_id, "who": member_id, "kinds": list(kinds), "since": since}
    if target_id is not None:
        params["target"] = target_id
    return (await session.execute(stmt, params)).scalars().first()


def _last_touch_statement(on_target: bool) -> Select[ShareCode]:
    """`last_touch`'s statement, built once: every paid order asks it."""
    v = ShareVisit
    stmt = (
        select(ShareCode)
        .join(v, v.code == ShareCode.code)
        .where(
            v.merchant_id == bindparam("m"),
            v.visitor_member_id == bindparam("who"),
            v.kind.in_(bindparam("kinds", expanding=True)),
            v.created_at >= bindparam("since"),
            ShareCode.member_id != bindparam("who"),
        )
        .order_by(v.created_at.desc(), v.id.desc())
        .limit(1)
    )
    return stmt.where(ShareCode.target_id == bindparam("target")) if on_target else stmt


_LAST_TOUCH, _LAST_TOUCH_ON = _last_touch_statement(False), _last_touch_statement(True)
