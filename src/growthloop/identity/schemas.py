from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from growthloop.core.auth import Role

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
LoginPassword = Annotated[str, StringConstraints(min_length=1, max_length=128)]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
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
    birthday: date | None
    signup_platform: str
    created_at: datetime
    platforms: list[str]


class ProfileIn(Strict):
    """Fields left out stay as they are. The birthday can be set once (stores give birthday
    gifts); a wrong one is corrected by the store."""

    nickname: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = Field(None, description="null clears the nickname.")
    birthday: date | None = Field(None, description="YYYY-MM-DD; set once.")

    @field_validator("birthday", mode="before")
    @classmethod
    def _iso_date_only(cls, value: object) -> object:
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise ValueError("a birthday is a date string YYYY-MM-DD")
        return value


class ReferralOut(BaseModel):
    referrer_code: str = Field(
        description="The member's own code: friends who log in with it are bound to them."
    )
    invited_count: int = Field(description="Members who signed up with this member's code.")
    referred_by: str | None = Field(description="The id of the member who invited this one.")
