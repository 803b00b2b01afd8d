"""What group buys tell the other domains: a group opened, a member joined it (at checkout
and again once paid), and how it ended. Analytics records them; shares follow joins.

The fields are what analytics stores as the event's payload: ids and counts, never a
person's data.
"""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import DomainEvent


class GroupEvent(DomainEvent):
    group_id: str
    group_buy_id: str


class GroupSeatEvent(GroupEvent):
    """A member taking a seat in the group, and the order that pays for it."""

    member_id: str
    order_id: str


class GroupOpened(GroupSeatEvent):
    """member_id: the leader, whose order waits for payment; or a payer who found their
    group full and leads a new one (`moved_from`: the full group)."""

    name: ClassVar[str] = "group.opened"
    moved_from: str | None = None


class GroupJoined(GroupSeatEvent):
    """member_id: who joined; `paid` False at checkout, True once they hold a seat."""

    name: ClassVar[str] = "group.joined"
    paid: bool


class GroupEnded(GroupEvent):
    """How the group ended, with the paid `members` it had then."""

    members: int


class GroupSucceeded(GroupEnded):
    """The group has all its paid `members`, or enough at expiry (`simulated`, 模拟成团)."""

    name: ClassVar[str] = "group.succeeded"
    simulated: bool


class GroupFailed(GroupEnded):
    """The group expired short of members: its paid orders are refunded."""

    name: ClassVar[str] = "group.failed"
