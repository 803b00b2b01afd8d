"""Share tracking's events: a code drawn, and each step a shared link brought its sharer
(analytics counts them). member_id: the sharer for `share.created`, else the visitor
(None for an anonymous open)."""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import DomainEvent


class ShareCreated(DomainEvent):
    name: ClassVar[str] = "share.created"
    code: str
    target_type: str
    target_id: str
    channel: str


class ShareStep(DomainEvent):
    """What every step carries: the code, its sharer and what was shared."""

    code: str
    sharer_id: str
    target_type: str
    target_id: str
    channel: str


class ShareOpened(ShareStep):
    name: ClassVar[str] = "share.opened"


class ShareRegistered(ShareStep):
    name: ClassVar[str] = "share.registered"


class ShareLogin(ShareStep):
    name: ClassVar[str] = "share.login"


class SharePurchased(ShareStep):
    name: ClassVar[str] = "share.purchased"
    order_id: str
    payable: int


class ShareHelped(ShareStep):
    name: ClassVar[str] = "share.helped"
    cut: int


class ShareJoined(ShareStep):
    name: ClassVar[str] = "share.joined"
