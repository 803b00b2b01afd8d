"""Share tracking. Never commits.

A member shares a target (a product, a flash sale, their group or bargain...) on a
channel and gets a code; whoever opens the link or scans the poster's QR code (scene
`s=<code>`) is attributed to the sharer: the open, a sign-up or login with
`share_code`, and then, within ATTRIBUTION_DAYS of their last touch, their paid orders,
bargain helps and group joins. Every step is recorded once (unique per code, kind and
reference) and emitted as an event for analytics (events.py): share.created,
share.opened, share.registered, share.login, share.purchased, share.helped,
share.joined. Opening one's own share counts nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.bargains.events import BargainHelped
from growthloop.campaigns.group_buys.events import GroupJoined
from growthloop.campaigns.shares import repository as repo
from growthloop.campaigns.shares.errors import ShareNotFound
from growthloop.campaigns.shares.events import (
    ShareCreated,
    ShareHelped,
    ShareJoined,
    ShareLogin,
    ShareOpened,
    SharePurchased,
    ShareRegistered,
    ShareStep,
)
from growthloop.campaigns.shares.models import ShareCode
from growthloop.campaigns.shares.schemas import OpenedOut, ShareIn
from growthloop.core import references
from growthloop.core.context import now
from growthloop.core.errors import AppError
from growthloop.core.events import emit
from growthloop.core.ids import new_id
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import PageParams
from growthloop.identity.events import MemberLogin
from growthloop.orders.events import OrderPaid

ATTRIBUTION_DAYS = 7
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read off posters
CODE_LENGTH = 8
TOUCHES = ("open", "register", "login")
# Each kind of step a share brings (`ShareVisit.kind`) and its event.
STEPS: dict[str, type[ShareStep]] = {
    "open": ShareOpened,
    "register": ShareRegistered,
    "login": ShareLogin,
    "purchase": SharePurchased,
    "help": ShareHelped,
    "join": ShareJoined,
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


def device_ref(anonymous_id: str) -> str:
    """The `ref` of an anonymous open: one per device."""
    return hashlib.sha256(anonymous_id.encode()).hexdigest()[:26]


async def _existing(
    session: AsyncSession, merchant_id: str, member_id: str, data: ShareIn
) -> ShareCode | None:
    return await repo.share_of(
        session, merchant_id, member_id, data.target_type, data.target_id, data.channel
    )


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
    shared = data.model_dump()  # target_type, target_id, channel
    for _ in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        row = ShareCode(
            code=code,
            merchant_id=merchant_id,
            member_id=member_id,
            created_at=now(session),
            **shared,
        )
        if not await repo.add_share(session, row):
            # A code collision, or the same share made concurrently.
            found = await _existing(session, merchant_id, member_id, data)
            if found is not None:
                return found, False
            continue
        await emit(
            session, ShareCreated(merchant_id=merchant_id, member_id=member_id, code=code, **shared)
        )
        return row, True
    raise RuntimeError("could not draw a free share code")


async def get_share(session: AsyncSession, merchant_id: str, code: str) -> ShareCode:
    """The share with this code (404), of this merchant (403). Codes are read off posters:
    case and stray spaces do not matter."""
    return await get_owned(session, ShareCode, code.strip().upper(), merchant_id, ShareNotFound())


async def _visit(
    session: AsyncSession,
    row: ShareCode,
    kind: str,
    *,
    visitor: str | None,
    anonymous_id: str | None = None,
    ref: str | None = None,
    **extra: Any,
) -> bool:
    """Record one step (once per code, kind and reference) and emit its event, with the
    `extra` fields of its kind."""
    if ref is None and visitor is not None:
        ref = visitor  # an open, sign-up or login counts once per visitor
    recorded = await repo.add_visit(
        session,
        {
            "id": new_id(),
            "merchant_id": row.merchant_id,
            "code": row.code,
            "sharer_id": row.member_id,
            "visitor_member_id": visitor,
            "anonymous_id": anonymous_id,
            "kind": kind,
            "ref": ref,
            "created_at": now(session),
        },
    )
    if recorded:
        step = STEPS[kind](
            merchant_id=row.merchant_id,
            member_id=visitor,
            code=row.code,
            sharer_id=row.member_id,
            target_type=row.target_type,
            target_id=row.target_id,
            channel=row.channel,
            **extra,
        )
        await emit(session, step)
    return recorded


async def open_share(
    session: AsyncSession,
    merchant_id: str,
    code: str,
    *,
    visitor: str | None,
    anonymous_id: str | None,
) -> OpenedOut:
    row = await get_share(session, merchant_id, code)
    mine = visitor == row.member_id
    if not mine:
        # An anonymous open counts once per device; without an id, every open counts.
        device = device_ref(anonymous_id) if anonymous_id else None
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
) -> tuple[list[ShareCode], dict[tuple[str, str], int], str | None]:
    """A page of the member's shares, the visits each brought (per code and kind), and
    the next cursor."""
    rows, cursor = await repo.shares_page(session, merchant_id, member_id, page)
    counts = await repo.visit_counts(session, [r.code for r in rows])
    return rows, counts, cursor


async def _last_touch(
    session: AsyncSession, merchant_id: str, member_id: str, target_id: str | None = None
) -> ShareCode | None:
    """The share that last brought the member (within the attribution window)."""
    since = now(session) - timedelta(days=ATTRIBUTION_DAYS)
    return await repo.last_touch(session, merchant_id, member_id, TOUCHES, since, target_id)


# ---- subscribers (in the event's transaction) -------------------------------------------


async def on_member_login(session: AsyncSession, event: MemberLogin) -> None:
    code = event.share_code
    if not code:
        return
    try:
        row = await get_share(session, event.merchant_id, code)
    except AppError:
        return  # unknown or another shop's: a login never fails because of a code
    if row.member_id == event.member_id:
        return
    kind = "register" if event.is_new else "login"
    await _visit(session, row, kind, visitor=event.member_id)


async def on_order_paid(session: AsyncSession, event: OrderPaid) -> None:
    if event.member_id is None:
        return
    row = await _last_touch(session, event.merchant_id, event.member_id)
    if row is not None:
        await _visit(
            session,
            row,
            "purchase",
            visitor=event.member_id,
            ref=event.order_id,
            order_id=event.order_id,
            payable=event.payable,
        )


async def on_bargain_helped(session: AsyncSession, event: BargainHelped) -> None:
    row = await _last_touch(session, event.merchant_id, event.member_id, event.instance_id)
    if row is not None:
        await _visit(
            session, row, "help", visitor=event.member_id, ref=event.instance_id, cut=event.cut
        )


async def on_group_joined(session: AsyncSession, event: GroupJoined) -> None:
    if not event.paid:
        return
    row = await _last_touch(session, event.merchant_id, event.member_id, event.group_id)
    if row is not None:
        await _visit(session, row, "join", visitor=event.member_id, ref=event.group_id)
