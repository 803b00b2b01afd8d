from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from growthloop.core.money import PositiveFen
from growthloop.core.schemas import Id, Instant, Name, Strict
from growthloop.orders.schemas import OptionText, OrderOut

GroupStatus = Literal["forming", "succeeded", "failed"]
Overflow = Literal["new_group", "refund"]

GroupSize = Annotated[int, Field(strict=True, ge=2, le=100)]
Minutes = Annotated[int, Field(strict=True, ge=5, le=7 * 24 * 60)]


class GroupBuyIn(Strict):
    """A group of `group_size` members buys one unit each at `group_price`; a group not
    full `duration_minutes` after it was opened fails and its paid orders are refunded
    (unless `auto_succeed_min` members paid: then it succeeds anyway, 模拟成团)."""

    product_id: Id
    group_price: PositiveFen
    group_size: GroupSize
    duration_minutes: Minutes
    starts_at: Instant | None = None
    ends_at: Instant | None = Field(None, description="no new groups after it; open end if unset")
    overflow: Overflow = Field(
        "new_group",
        description="a payer who finds the group full goes into another group (a new one "
        "they lead, if none has a seat) or is refunded",
    )
    auto_succeed_min: Annotated[int, Field(strict=True, ge=1, le=99)] | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def _consistent(self) -> GroupBuyIn:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.auto_succeed_min is not None and self.auto_succeed_min >= self.group_size:
            raise ValueError("auto_succeed_min must be smaller than group_size")
        return self


class JoinIn(Strict):
    options: dict[OptionText, OptionText] | None = Field(None, max_length=10)


class GroupBuyOut(BaseModel):
    id: str
    product_id: str
    name: str
    group_price: int
    regular_price: int
    group_size: int
    duration_minutes: int
    starts_at: datetime
    ends_at: datetime | None
    overflow: Overflow
    auto_succeed_min: int | None
    status: Literal["scheduled", "running", "ended"]


class AdminGroupBuyOut(GroupBuyOut):
    groups_forming: int
    groups_succeeded: int
    groups_failed: int
    ended_early_at: datetime | None
    created_at: datetime


class GroupMemberOut(BaseModel):
    """A seat, without who holds it: other people's profiles are not shown."""

    role: Literal["leader", "member"]
    status: Literal["paid", "refunded"] = Field(
        description="refunded: the group failed, or the order was refunded after it succeeded"
    )
    paid_at: datetime | None
    is_me: bool = False


class GroupOut(BaseModel):
    id: str
    group_buy_id: str
    status: GroupStatus
    size: int
    members: int = Field(
        description="seats taken: members who paid (only they count), also once refunded "
        "because the group failed or after it succeeded; always the length of member_list"
    )
    needed: int = Field(description="paid members still missing")
    expires_at: datetime
    simulated: bool = Field(description="succeeded at expiry with fewer members (模拟成团)")
    member_list: list[GroupMemberOut]
    created_at: datetime
    succeeded_at: datetime | None
    failed_at: datetime | None


class MyPlaceOut(BaseModel):
    """The member's own place in the group."""

    role: Literal["leader", "member"]
    status: Literal["pending", "paid", "refunded"] = Field(
        description="pending: ordered, not paid yet; refunded: the group failed, the member "
        "left it (refunded while it formed), it was full when they paid, or the order was "
        "refunded after it succeeded"
    )
    order_id: str
    joined_at: datetime
    paid_at: datetime | None
    left_at: datetime | None = Field(description="gave the seat back while the group formed")


class MyGroupOut(GroupOut):
    me: MyPlaceOut


class OpenedOut(BaseModel):
    group_id: str
    group: GroupOut
    order: OrderOut


class JoinedOut(BaseModel):
    group: GroupOut
    order: OrderOut
