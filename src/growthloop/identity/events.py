"""What identity tells the rest of the system about members: a sign-up, a login, a
referral bound, a birthday. Fields are the analytics payload, beside merchant and member
(always set: every identity event is about one member)."""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import MemberEvent


class _LoginEvent(MemberEvent):
    platform: str
    is_new: bool
    day: str  # the merchant's day of the login, ISO
    # The codes of the link the member came by: a promoter's referral code, a share code.
    referrer_code: str | None
    share_code: str | None


class MemberRegistered(_LoginEvent):
    """A first login made a new member (emitted before that login's `MemberLogin`)."""

    name: ClassVar[str] = "member.registered"


class MemberLogin(_LoginEvent):
    """Every login, a member's first included."""

    name: ClassVar[str] = "member.login"


class MemberInvited(MemberEvent):
    """A referral bound: `member_id` is the inviter, `invitee_id` the member they brought."""

    name: ClassVar[str] = "member.invited"
    invitee_id: str


class MemberBirthday(MemberEvent):
    """Today is the member's birthday in their merchant's timezone (once a year)."""

    name: ClassVar[str] = "member.birthday"
    year: int
    day: str  # ISO
