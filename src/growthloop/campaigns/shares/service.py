"""Share tracking. Never commits.

A member shares a target (a product, a flash sale, their group or bargain...) on a
channel and gets a code; whoever opens the link or scans the poster's QR code (scene
`s=<code>`) is attributed to the sharer: the open, a sign-up or login with
`share_code`, and then, within ATTRIBUTION_DAYS of their last touch, their paid orders,
bargain helps and group joins. Every step is recorded once (unique per code, kind and
reference) and emitted as an event for analytics: share.created, share.opened,
share.registered, share.purchased, share.helped, share.joined. Opening one's own
share counts nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import windows
from growthloop.campaigns.shares.errors import ShareNotFound
from growthloop.campaigns.shares.models import ShareCode, ShareVisit
from growthloop.campaigns.shares.schemas import MyShareOut, OpenedOut, ShareIn, ShareOut
from growthloop.core import references
from growthloop.core.auth import ensure_same_merchant
from growthloop.core.errors import AppError
from growthloop.core.events import DomainEvent, NamedEvent, emit
from growthloop.core.ids import new_id
from growthloop.core.pagination import PageParams, make_page
from growthloop.core.sql import insert_unless_exists

ATTRIBUTION_DAYS = 7
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read off posters
CODE_LENGTH = 8
TOUCHES = ("open", "register", "login")
EVENTS = {
    "open": "share.opened",
    "register": "share.registered",
    "login": "share.login",
    "purchase": "share.purchased",
    "help": "share.helped",
    "join": "share.joined",
}


# The table each kind of target is a row of (a `page` is a path in the mini-program).
TARGET_TABLES = {
    "product": "products",
    "flash_sale": "flash_sales",
    "group_buy": "group_buys",
    "group": "buy_groups",
    "bargain": "bargains",
    "bargain_instance": "bargain_instances",
    "lottery": "lotteries",
}

_now = windows.now_of


def share_out(s: ShareCode) -> ShareOut:
    return ShareOut(
        code=s.code,
        scene=f"s={s.code}",
        path=f"/pages/share/index?s={s.code}",
        target_type=s.target_type,
        target_id=s.target_id,
        channel=s.channel,
        created_at=s.created_at,
    )


async def _existing(
    session: AsyncSession, merchant_id: str, member_id: str, data: ShareIn
) -> ShareCode | None:
    stmt = select(ShareCode).where(
        ShareCode.merchant_id == merchant_id,
        ShareCode.member_id == member_id,
        ShareCode.target_type == data.target_type,
        ShareCode.target_id == data.target_id,
        ShareCode.channel == data.channel,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def share(
    session: AsyncSession, merchant_id: str, member_id: str, data: ShareIn
) -> tuple[ShareCode, bool]:
    """The member's code for this target and channel: the one they have (False) or a new
    one (True). A target other than a page must be one of the merchant's (422)."""
    table = TARGET_TABLES.get(data.target_type)
    if table is not None:
        await references.check(
            session, merchant_id, table=table, field="target_id", ids=[data.target_id]
        )
    found = await _existing(session, merchant_id, member_id, data)
    if found is not None:
        return found, False
    for _ in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        row = ShareCode(
            code=code,
            merchant_id=merchant_id,
            member_id=member_id,
            target_type=data.target_type,
            target_id=data.target_id,
            channel=data.channel,
            created_at=_now(session),
        )
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:  # a code collision, or the same share made concurrently
            found = await _existing(session, merchant_id, member_id, data)
            if found is not None:
                return found, False
            continue
        await emit(
            session,
            NamedEvent(
                "share.created",
                merchant_id,
                {
                    "code": code,
                    "target_type": data.target_type,
                    "target_id": data.target_id,
                    "channel": data.channel,
                },
                member_id,
            ),
        )
        return row, True
    raise RuntimeError("could not draw a free share code")


async def access_share(session: AsyncSession, merchant_id: str, code: str) -> ShareCode:
    """The share with this code (404), of this merchant (403). Codes are read off posters:
    case and stray spaces do not matter."""
    row = await session.get(ShareCode, code.strip().upper())
    if row is None:
        raise ShareNotFound()
    ensure_same_merchant(row.merchant_id, merchant_id)
    return row


async def _visit(
    session: AsyncSession,
    row: ShareCode,
    kind: str,
    *,
    visitor: str | None,
    anonymous_id: str | None = None,
    ref: str | None = None,
    **extra: object,
) -> bool:
    """Record one step (once per code, kind and reference) and emit its event."""
    now = _now(session)
    if ref is None and visitor is not None:
        ref = visitor  # an open, sign-up or login counts once per visitor
    recorded = await insert_unless_exists(
        session,
        ShareVisit,
        {
            "id": new_id(),
            "merchant_id": row.merchant_id,
            "code": row.code,
            "sharer_id": row.member_id,
            "visitor_member_id": visitor,
            "anonymous_id": anonymous_id,
            "kind": kind,
            "ref": ref,
            "created_at": now,
        },
        ["code", "kind", "ref"],
    )
    if recorded:
        payload = {
            "code": row.code,
            "sharer_id": row.member_id,
            "target_type": row.target_type,
            "target_id": row.target_id,
            "channel": row.channel,
            **extra,
        }
        await emit(session, NamedEvent(EVENTS[kind], row.merchant_id, payload, visitor))
    return recorded


async def open_share(
    session: AsyncSession,
    merchant_id: str,
    code: str,
    *,
    visitor: str | None,
    anonymous_id: str | None,
) -> OpenedOut:
    row = await access_share(session, merchant_id, code)
    mine = visitor == row.member_id
    if not mine:
        # An anonymous open counts once per device; without an id, every open counts.
        device = hashlib.sha256(anonymous_id.encode()).hexdigest()[:26] if anonymous_id else None
        ref = visitor or device or new_id()
        await _visit(session, row, "open", visitor=visitor, anonymous_id=anonymous_id, ref=ref)
    return OpenedOut(
        code=row.code,
        target_type=row.target_type,
        target_id=row.target_id,
        mine=mine,
    )


async def my_shares(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[MyShareOut], str | None]:
    stmt = select(ShareCode).where(
        ShareCode.merchant_id == merchant_id, ShareCode.member_id == member_id
    )
    if page.after_id is not None:
        stmt = stmt.where(ShareCode.code > page.after_id)
    rows = list(
        (await session.execute(stmt.order_by(ShareCode.code).limit(page.limit + 1))).scalars()
    )
    rows, cursor = make_page(rows, page, id_of="code")
    counts: dict[tuple[str, str], int] = {}
    if rows:
        v = ShareVisit
        q = (
            select(v.code, v.kind, func.count())
            .where(v.code.in_([r.code for r in rows]))
            .group_by(v.code, v.kind)
        )
        counts = {(c, k): int(n) for c, k, n in await session.execute(q)}
    return [
        MyShareOut(
            **share_out(r).model_dump(),
            opens=counts.get((r.code, "open"), 0),
            registrations=counts.get((r.code, "register"), 0),
            purchases=counts.get((r.code, "purchase"), 0),
        )
        for r in rows
    ], cursor


async def _last_touch(
    session: AsyncSession, merchant_id: str, member_id: str, target_id: str | None = None
) -> ShareCode | None:
    """The share that last brought the member (within the attribution window)."""
    since = _now(session) - timedelta(days=ATTRIBUTION_DAYS)
    v = ShareVisit
    stmt = (
        select(ShareCode)
        .join(v, v.code == ShareCode.code)
        .where(
            v.merchant_id == merchant_id,
            v.visitor_member_id == member_id,
            v.kind.in_(TOUCHES),
            v.created_at >= since,
            ShareCode.member_id != member_id,
        )
        .order_by(v.created_at.desc(), v.id.desc())
        .limit(1)
    )
    if target_id is not None:
        stmt = stmt.where(ShareCode.target_id == target_id)
    return (await session.execute(stmt)).scalars().first()


# ---- subscribers (in the event's transaction) -------------------------------------------


async def on_member_login(session: AsyncSession, event: DomainEvent) -> None:
    code = event.payload.get("share_code")
    if not code or event.member_id is None:
        return
    try:
        row = await access_share(session, event.merchant_id, str(code))
    except AppError:
        return  # unknown or another shop's: a login never fails because of a code
    if row.member_id == event.member_id:
        return
    kind = "register" if event.payload.get("is_new") else "login"
    await _visit(session, row, kind, visitor=event.member_id)


async def on_order_paid(session: AsyncSession, event: DomainEvent) -> None:
    if event.member_id is None:
        return
    row = await _last_touch(session, event.merchant_id, event.member_id)
    if row is not None:
        order_id = str(event.payload["order_id"])
        await _visit(
            session,
            row,
            "purchase",
            visitor=event.member_id,
            ref=order_id,
            order_id=order_id,
            payable=event.payload.get("payable"),
        )


async def on_bargain_helped(session: AsyncSession, event: DomainEvent) -> None:
    instance_id = str(event.payload["instance_id"])
    if event.member_id is None:
        return
    row = await _last_touch(session, event.merchant_id, event.member_id, instance_id)
    if row is not None:
        await _visit(
            session,
            row,
            "help",
            visitor=event.member_id,
            ref=instance_id,
            cut=event.payload.get("cut"),
        )


async def on_group_joined(session: AsyncSession, event: DomainEvent) -> None:
    if not event.payload.get("paid") or event.member_id is None:
        return
    group_id = str(event.payload["group_id"])
    row = await _last_touch(session, event.merchant_id, event.member_id, group_id)
    if row is not None:
        await _visit(session, row, "join", visitor=event.member_id, ref=group_id)
