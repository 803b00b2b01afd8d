"""The demo shop's analytics history: where members came from, their visits and page views,
and the business events of their orders."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from growthloop.analytics import bulk as analytics_bulk
from growthloop.analytics.rows import EventRow, Override
from growthloop.core.ids import new_id
from growthloop.demo.menu import DAYS, MEMBERS, PLATFORMS
from growthloop.identity.bulk import Arrival
from growthloop.identity.events import MemberLogin, MemberRegistered
from growthloop.orders.bulk import PastOrder
from growthloop.orders.events import (
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderPaid,
    OrderRefunded,
)

# Where new members first came from (the touch attribution credits).
CHANNELS = [
    ("wechat_search", 0.30),
    ("table_qr", 0.25),
    ("moments_ad", 0.15),
    ("friend_share", 0.20),
    ("douyin_video", 0.10),
]
VISIT_CHANNELS = [None, "table_qr", "wechat_search", "moments_ad", "friend_share"]
MENU_PAGE = "pages/menu/index"
PRODUCT_PAGE = "pages/product/detail"


def history_events(
    merchant_id: str,
    arrivals: Sequence[Arrival],
    orders: Sequence[PastOrder],
    visits: set[tuple[str, date]],
    now: datetime,
    rng: random.Random,
) -> tuple[list[EventRow], list[analytics_bulk.KnownId], list[Override]]:
    """The analytics events of the seeded history, so the dashboard has three months behind
    it: sign-ups (with the channel that brought each member), logins and menu views on every
    visit, and each order's life; plus anonymous visitors, some of whom signed up later and
    were linked to their member at login, as the SDK's identify call does."""
    tz = ZoneInfo("Asia/Shanghai")
    platform_of = {m.member_id: m.platform for m in arrivals}
    events: list[EventRow] = []

    def add(
        name: str,
        distinct_id: str,
        member_id: str | None,
        at: datetime,
        platform: str,
        *,
        page: str | None = None,
        channel: str | None = None,
        amount: int = 0,
        props: str = "{}",
    ) -> None:
        if at >= now:
            return
        events.append(
            EventRow(
                merchant_id,
                new_id(at),
                name,
                distinct_id,
                member_id,
                at,
                at,
                platform,
                page,
                None,
                channel,
                amount,
                props,
            )
        )

    identities: list[analytics_bulk.KnownId] = []
    links: list[Override] = []
    for m in arrivals:
        member_id, joined, platform = m.member_id, m.joined_at, m.platform
        identities.append(
            analytics_bulk.KnownId(member_id, member_id, "member", joined, platform_hint=platform)
        )
        channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
        if rng.random() < 0.3:  # browsed anonymously first, identified at sign-up
            device = f"demo-device-{member_id[-10:]}"
            for k in range(rng.randint(1, 4)):
                add(
                    "page_view",
                    device,
                    None,
                    joined - timedelta(minutes=5 + 7 * k),
                    platform,
                    page=MENU_PAGE,
                    channel=channel,
                )
            identities.append(analytics_bulk.KnownId(device, member_id, "identify", joined))
            links.append(Override(merchant_id, device, member_id, member_id, joined))
        add(MemberRegistered.name, member_id, member_id, joined, platform, channel=channel)
        add(MemberLogin.name, member_id, member_id, joined, platform, channel=channel)
    seen = {(merchant_id, i.distinct_id) for i in identities}
    for a in arrivals:
        for external in (a.openid, a.unionid):
            if external and (merchant_id, external) not in seen:
                seen.add((merchant_id, external))
                identities.append(
                    analytics_bulk.KnownId(external, a.member_id, "member", a.joined_at)
                )
    for member_id, day in sorted(visits):
        platform = platform_of[member_id]
        local = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        at = (local + timedelta(hours=rng.uniform(9.5, 21.5))).astimezone(UTC)
        # Half the visits come through something trackable: the table's QR code, a search.
        came_by = rng.choices(VISIT_CHANNELS, [50, 25, 12, 8, 5])[0]
        add(MemberLogin.name, member_id, member_id, at, platform, channel=came_by)
        for k in range(rng.choices([1, 2, 3], [5, 3, 2])[0]):
            add(
                "page_view",
                member_id,
                member_id,
                at + timedelta(minutes=1 + 2 * k),
                platform,
                page=MENU_PAGE,
            )
    for o in orders:
        if o.member_id is None:
            continue
        member_id, platform, amount = o.member_id, platform_of[o.member_id], o.payable()
        props = f'{{"order_id":"{o.order_id}"}}'
        add(
            "page_view",
            member_id,
            member_id,
            o.created_at - timedelta(minutes=2),
            platform,
            page=PRODUCT_PAGE,
        )
        for name, happened in (
            (OrderCreated.name, o.created_at),
            (OrderPaid.name, o.paid_at),
            (OrderCompleted.name, o.completed_at),
            (OrderCancelled.name, o.cancelled_at),
            (OrderRefunded.name, o.refunded_at),
        ):
            if happened is not None:
                add(name, member_id, member_id, happened, platform, amount=amount, props=props)
    # Passers-by who looked at the menu and never signed up.
    start = now - timedelta(days=DAYS)
    for n in range(MEMBERS // 2):
        platform = rng.choices([p for p, _ in PLATFORMS], [w for _, w in PLATFORMS])[0]
        at = start + timedelta(days=rng.uniform(0, DAYS), hours=rng.uniform(0, 1))
        for k in range(rng.randint(1, 3)):
            add(
                "page_view",
                f"demo-visitor-{n:05d}",
                None,
                at + timedelta(minutes=k),
                platform,
                page=MENU_PAGE,
                channel=rng.choice([None, "moments_ad", "douyin_video"]),
            )
    return events, identities, links
