"""Share tracking's part of the data export and of account deletion (注销).

Erased:
- the member's share codes, and every visit their codes brought (opens, sign-ups,
  purchases, helps, joins): the record of what the member shared and who came through it,
  visitors' device ids included. Nothing else counts from them: they only credited the
  member, and a code that is gone opens nothing (404);
- on the member's own visits to other members' shares: the device id (`anonymous_id`);
- anonymous opens from the member's devices: their device id, and their `ref` (a hash of
  the device id) is replaced by a random one. The devices are the ids the handlers that
  ran before collected (`erasure.identifiers`: the analytics identities), so this one
  should run after analytics.

Kept: the member's visits to other members' shares (kind, reference, time), because they
are those sharers' opens, sign-ups and purchases. The visitor id in them stays as the id
of the member row the identity handler empties of the person (orders keep it the same
way): it identifies nobody.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.shares.models import ShareCode, ShareVisit
from growthloop.campaigns.shares.service import device_ref
from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    clear_columns,
    count_member_rows,
    execute_bulk,
    member_rows,
    of_member,
)


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    c, v = ShareCode, ShareVisit
    codes = await member_rows(
        session,
        c,
        merchant_id,
        member_id,
        "code",
        "target_type",
        "target_id",
        "channel",
        "created_at",
        order_by=(c.created_at, c.code),
    )
    counts: dict[str, dict[str, int]] = {code["code"]: {} for code in codes}
    if codes:
        stmt = (
            select(v.code, v.kind, func.count())
            .where(v.merchant_id == merchant_id, v.code.in_(list(counts)))
            .group_by(v.code, v.kind)
        )
        for code, kind, n in await session.execute(stmt):
            counts[code][kind] = int(n)
    visits = await member_rows(
        session,
        v,
        merchant_id,
        member_id,
        "code",
        "kind",
        "ref",
        v.anonymous_id.label("device_id"),
        "created_at",
        member="visitor_member_id",
        order_by=(v.created_at, v.id),
    )
    return {
        # What the member's codes brought is counted; the visitors are other people.
        "shares": [{**code, "visits": counts[code["code"]]} for code in codes],
        "visits": visits,
    }


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    v = ShareVisit
    own = select(ShareCode.code).where(of_member(ShareCode, m, who))
    brought = await execute_bulk(
        session, delete(v).where(v.merchant_id == m, or_(v.sharer_id == who, v.code.in_(own)))
    )
    codes = await execute_bulk(session, delete(ShareCode).where(of_member(ShareCode, m, who)))
    stripped = await clear_columns(
        session, v, of_member(v, m, who, "visitor_member_id"), v.anonymous_id
    )
    anonymous = 0
    devices = sorted(i for i in erasure.identifiers if i != who)
    for start in range(0, len(devices), 200):
        chunk = devices[start : start + 200]
        found = await session.scalars(
            select(v.id).where(
                v.merchant_id == m,
                v.visitor_member_id.is_(None),
                or_(
                    v.anonymous_id.in_(chunk),
                    and_(v.kind == "open", v.ref.in_([device_ref(d) for d in chunk])),
                ),
            )
        )
        for visit_id in list(found):
            # A random reference of the same length, unique like the hash was.
            await execute_bulk(
                session,
                update(v)
                .where(v.merchant_id == m, v.id == visit_id)
                .values(anonymous_id=None, ref=secrets.token_hex(13)),
            )
            anonymous += 1
    kept = await count_member_rows(session, v, m, who, "visitor_member_id")
    return {
        "share_codes": codes,
        "share_visits_brought": brought,
        "share_visits_kept": kept,
        "device_ids_stripped": stripped + anonymous,
    }


HANDLER = PrivacyHandler(
    section="shares",
    tables=(ShareCode.__tablename__, ShareVisit.__tablename__),
    export=export,
    erase=erase,
    keeps=(
        "the member's visits to other members' shares (those sharers' opens, sign-ups and "
        "purchases), without device ids; they refer only to the anonymous member row"
    ),
)
