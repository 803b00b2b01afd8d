from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from growthloop.core.auth import Role

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
LoginPassword = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdminLoginIn(Strict):
    email: Email
    password: LoginPassword


class TokenOut(BaseModel):
    token: str
    expires_at: datetime


class MemberLoginIn(Strict):
    merchant_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    platform: Literal["wechat", "alipay", "douyin", "app", "dev"]
    code: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    referrer_code: Code | None = None
    share_code: Code | None = None


class MemberLoginOut(BaseModel):
    token: str
    member_id: str
    is_new: bool
    expires_at: datetime


class AdminUserIn(Strict):
    email: Email
    password: Password
    role: Role


class AdminUserOut(BaseModel):
    id: str
    email: str
    role: Role
    created_at: datetime


class MerchantOut(BaseModel):
    id: str
    name: str
    timezone: str
    ingest_key: str | None = Field(None, description="Only shown to owners.")


class AdminMeOut(BaseModel):
    admin: AdminUserOut
    merchant: MerchantOut
    permissions: list[str]


class MemberOut(BaseModel):
    id: str
    nickname: str | None
    signup_platform: str
    created_at: datetime
    platforms: list[str]
