"""What loyalty tells the other domains: a member joined the programme, changed tier, or
got their birthday gift (promotions grants the coupons of each occasion)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from growthloop.core.events import DomainEvent

TierDirection = Literal["up", "down", "initial"]


class MemberEnrolled(DomainEvent):
    """支付即会员: the member's first paid order made them a member."""

    name: ClassVar[str] = "member.enrolled"
    via: str  # "first_payment"
    tier: str | None  # the tier they start in


class MemberTierChanged(DomainEvent):
    """The member's tier moved: `up` (an upgrade), `down` (a periodic review), or `initial`
    (entering the base tier, where every member starts)."""

    name: ClassVar[str] = "member.tier_changed"
    # The payload key is "from", a Python keyword: the field is `from_`.
    from_: str | None
    to: str | None
    direction: TierDirection

    @property
    def payload(self) -> dict[str, Any]:
        return {"from": self.from_, "to": self.to, "direction": self.direction}


class MemberBirthdayGift(DomainEvent):
    """An enrolled member's birthday: the tier's birthday points were given."""

    name: ClassVar[str] = "member.birthday_gift"
    year: int
    tier: str | None
