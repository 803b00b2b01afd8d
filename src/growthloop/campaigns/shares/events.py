"""Share tracking's events: a code drawn, and each step a shared link brought its sharer
(analytics counts them). member_id: the sharer for `share.created`, else the visitor
(None for an anonymous open)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from growthloop.core.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ShareCreated(DomainEvent):
    name: ClassVar[str] = "share.created"
    code: str
    target_type: str
    target_id: str
    channel: str


@dataclass(frozen=True, kw_only=True)
class ShareStep(DomainEvent):
    """What every step carries: the code, its sharer and what was shared."""

    code: str
    sharer_id: str
    target_type: str
    target_id: str
    channel: str


@dataclass(frozen=True, kw_only=True)
class ShareOpened(ShareStep):
    name: ClassVar[str] = "share.opened"


@dataclass(frozen=True, kw_only=True)
class ShareRegistered(ShareStep):
    name: ClassVar[str] = "share.registered"


@dataclass(frozen=True, kw_only=True)
class ShareLogin(ShareStep):
    name: ClassVar[str] = "share.login"


@dataclass(frozen=True, kw_only=True)
class SharePurchased(ShareStep):
    name: ClassVar[str] = "share.purchased"
    order_id: str
    payable: int


@dataclass(frozen=True, kw_only=True)
class ShareHelped(ShareStep):
    name: ClassVar[str] = "share.helped"
    cut: int


@dataclass(frozen=True, kw_only=True)
class ShareJoined(ShareStep):
    name: ClassVar[str] = "share.joined"
