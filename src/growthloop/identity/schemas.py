from __future__ import annotations

import re
from datetime import date, datetime
from itertools import combinations
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from growthloop.core.auth import Role
from growthloop.core.schemas import LongName, Strict

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
Platform = Literal["wechat", "alipay", "douyin", "app", "dev"]


class AdminLoginIn(Strict):
    email: Email
    password: LoginPassword


class TokenOut(BaseModel):
    token: str
    expires_at: datetime


class MemberLoginIn(Strict):
    merchant_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    platform: Platform
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


class PhoneIn(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    platform: Platform | None = Field(
        None, description="The platform that issued the code; default: the sign-up platform."
    )


class PhoneOut(BaseModel):
    phone: str = Field(description="The verified number, masked (138****1234).")
    verified: bool = True


# ---- shop settings -------------------------------------------------------------------

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]*$")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


def _contact_phone(value: str) -> str:
    """A shop's number as customers dial it: 021-6350 1234, 400-820-8820, +86 138 0013 8000."""
    digits = sum(c.isdigit() for c in value)
    if not _PHONE.match(value) or not 5 <= digits <= 20:
        raise ValueError("a phone number: digits, spaces, -, ( ) and a leading +; 5 to 20 digits")
    return value


def _https_url(value: str) -> str:
    """An absolute https URL with a host, no credentials, no spaces: shown to customers."""
    if any(c.isspace() for c in value):
        raise ValueError("a URL has no spaces (encode them as %20)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a URL without user name or password")
    return value


ContactPhone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=32), AfterValidator(_contact_phone)
]
ContactEmail = Annotated[Email, AfterValidator(str.lower)]
HttpsUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(_https_url)
]
Timezone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class BusinessHours(BaseModel):
    """Open from `open` to `close` on `weekday` (0 = Monday), in the merchant's timezone.
    A close before the open runs past midnight into the next day (10:00-02:00); open equal to
    close is open round the clock (24 hours from `open`)."""

    model_config = ConfigDict(extra="forbid")

    weekday: Annotated[int, Field(strict=True, ge=0, le=6)]
    open: Annotated[str, StringConstraints(pattern=_HHMM)] = Field(examples=["09:30"])
    close: Annotated[str, StringConstraints(pattern=_HHMM)] = Field(examples=["21:00"])

    def week_span(self) -> tuple[int, int]:
        """[start, end) in minutes from Monday 00:00; end may pass the week's end."""
        start = self.weekday * MINUTES_PER_DAY + _minutes(self.open)
        length = (_minutes(self.close) - _minutes(self.open)) % MINUTES_PER_DAY
        return start, start + (length or MINUTES_PER_DAY)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Two [start, end) spans on the weekly clock (Sunday night runs into Monday)."""
    return any(
        a[0] < b[1] + shift and b[0] + shift < a[1]
        for shift in (-MINUTES_PER_WEEK, 0, MINUTES_PER_WEEK)
    )


def _label(hours: BusinessHours) -> str:
    return f"weekday {hours.weekday} {hours.open}-{hours.close}"


def _without_overlaps(hours: list[BusinessHours]) -> list[BusinessHours]:
    """Sorted by weekday and opening time; two periods that overlap are an input error."""
    ordered = sorted(hours, key=lambda h: (h.weekday, h.open))
    spans = [h.week_span() for h in ordered]
    for i, j in combinations(range(len(ordered)), 2):
        if _overlap(spans[i], spans[j]):
            raise ValueError(f"{_label(ordered[i])} overlaps {_label(ordered[j])}")
    return ordered


class MerchantSettingsIn(Strict):
    """Fields left out stay as they are; null clears an optional one."""

    name: LongName | None = None
    timezone: Timezone | None = Field(
        None, description="An IANA timezone (Asia/Shanghai): the merchant's days."
    )
    contact_phone: ContactPhone | None = None
    contact_email: ContactEmail | None = None
    logo_url: HttpsUrl | None = Field(None, description="https only.")
    business_hours: (
        Annotated[list[BusinessHours], Field(max_length=28), AfterValidator(_without_overlaps)]
        | None
    ) = None

    @model_validator(mode="after")
    def _required_stay(self) -> MerchantSettingsIn:
        for name in ("name", "timezone"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be cleared")
        return self


class MerchantSettingsOut(BaseModel):
    id: str
    name: str
    timezone: str
    contact_phone: str | None
    contact_email: str | None
    logo_url: str | None
    business_hours: list[BusinessHours]
    created_at: datetime


class SettingEffect(BaseModel):
    area: str
    description: str


class MerchantSettingsChangeOut(MerchantSettingsOut):
    changed: list[str] = Field(description="The fields this request changed, by name.")
    effects: list[SettingEffect] = Field(
        description="What the change affects beyond the field itself (a timezone change)."
    )
