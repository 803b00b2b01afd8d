"""The business events analytics records, and the names of the events it sends itself.

Analytics records other domains' events (docs/events.md) but sits on the ground floor:
it imports neither the emitters' `events` modules nor their classes, so it knows them by
the names they are stored under. The wiring, which sees both, subscribes
`service.record_domain_event` to their classes through `service.record_business_events`,
which checks that the classes it is given and this catalogue name the same events.
"""

from __future__ import annotations

# The events the dashboard's own figures count (`queries.py`, the hourly aggregates).
MEMBER_REGISTERED = "member.registered"
ORDER_PAID = "order.paid"
ORDER_REFUNDED = "order.refunded"
ORDER_EVENTS = "order."  # the prefix of every order event (not a touch, in attribution)

# A historical order brought in by the CSV importer: stored as a paid order (`RECORDED_AS`)
# on the day it happened, with `properties.source = "import"`.
ORDER_IMPORTED = "order.imported"

# Domain events recorded as analytics events, and which payload field is their amount.
BUSINESS_EVENTS: dict[str, str | None] = {
    MEMBER_REGISTERED: None,
    "member.login": None,
    "member.enrolled": None,
    "member.tier_changed": None,
    "member.invited": None,
    "order.created": "payable",
    ORDER_PAID: "payable",
    "order.completed": "payable",
    "order.cancelled": "payable",
    ORDER_REFUNDED: "refund_amount",
    ORDER_IMPORTED: "payable",
    "coupon.claimed": None,
    "mall.redeemed": None,
    "flash_sale.purchased": None,
    "group.opened": None,
    "group.joined": None,
    "group.succeeded": None,
    "group.failed": None,
    "bargain.started": None,
    "bargain.helped": None,
    "bargain.purchased": None,
    "lottery.drew": None,
    "invite.qualified": None,
    "invite.rewarded": None,
    "distribution.bound": None,
    "commission.frozen": "amount",
    "commission.settled": "amount",
    "commission.cancelled": "amount",
    "share.opened": None,
    "share.registered": None,
    "share.login": None,
    "share.purchased": None,
    "share.helped": None,
    "share.joined": None,
}
# Domain events stored under another name (see `service.record_domain_event`).
RECORDED_AS = {ORDER_IMPORTED: ORDER_PAID}
# A member arriving from one of the ends (sign-up, login): their platform ids are linked
# to them and the end they came from is remembered for their later server-side events.
ARRIVALS = frozenset({MEMBER_REGISTERED, "member.login"})

# The event a fired alert's webhook delivery announces (`X-Growthloop-Event`).
ALERT_FIRED = "alert.fired"
