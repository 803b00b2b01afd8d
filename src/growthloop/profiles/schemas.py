from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Platform = Literal["wechat", "alipay", "douyin", "app", "dev", "import"]


class MemberItemOut(BaseModel):
    id: str
    nickname: str | None
    phone: str | None = Field(description="The verified phone number, masked: 138****1234.")
    tier: str | None = Field(description="The loyalty tier (null: the programme has no base).")
    points: int = Field(description="The points balance.")
    orders: int = Field(description="Paid and completed orders, imported history included.")
    spend: int = Field(description="What those orders paid, in fen.")
    platforms: list[str] = Field(description="The ends the member has accounts on.")
    signup_platform: str
    created_at: datetime
    last_login_at: datetime | None


class MemberAccountOut(BaseModel):
    platform: str
    linked_at: datetime


class MemberDetailOut(MemberItemOut):
    status: str = Field(description="active, or deleted once the account was erased (注销).")
    referral_code: str | None
    referred_by: str | None = Field(description="The member who invited this one.")
    accounts: list[MemberAccountOut]
    active_days: int = Field(description="Days (merchant timezone) the member logged in.")
