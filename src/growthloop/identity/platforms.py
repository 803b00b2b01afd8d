"""Login platform adapters: turn a mini-program login code into a platform identity, and a
phone-number code into the number the platform verified.

WeChat (`jscode2session`; `getuserphonenumber` for the code of `getPhoneNumber`), Alipay
(`alipay.system.oauth.token`) and Douyin (`jscode2session`) implement `PlatformAdapter` when
their credentials are configured; `dev` (GROWTHLOOP_DEV_LOGIN=1) takes the login code as the
user's stable external id, and a phone code that is a phone number as that number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from growthloop.identity.errors import InvalidLoginCode, InvalidPhoneCode
from growthloop.identity.phone import normalize_phone


@dataclass(frozen=True)
class PlatformIdentity:
    platform: str
    app_id: str
    openid: str
    unionid: str | None = None


class PlatformAdapter(Protocol):
    platform: str

    async def exchange_code(self, code: str) -> PlatformIdentity: ...

    async def exchange_phone_code(self, code: str) -> str:
        """The phone number the platform verified for this one-time code, as the platform
        reports it (e.g. WeChat's `phone_info.phoneNumber`, "+86 138..." or "138...").
        Raises `InvalidPhoneCode` when the platform rejects the code."""
        ...


class Platforms(dict[str, PlatformAdapter]):
    """The login platforms this runtime accepts, by name (`dev`, `wechat`, ...)."""


class DevAdapter:
    """`code` is the user's external id; `"<external id>|<unionid>"` also gives a unionid,
    so tests and local setups can be the same person at two merchants."""

    platform = "dev"

    async def exchange_code(self, code: str) -> PlatformIdentity:
        code = code.strip()
        if not 1 <= len(code) <= 128 or not code.isprintable():
            raise InvalidLoginCode("A dev login code is 1 to 128 printable characters.")
        openid, sep, unionid = code.partition("|")
        if sep and not (openid and unionid):
            raise InvalidLoginCode("A dev login code with a unionid is '<id>|<unionid>'.")
        return PlatformIdentity(platform="dev", app_id="", openid=openid, unionid=unionid or None)

    async def exchange_phone_code(self, code: str) -> str:
        if normalize_phone(code) is None:
            raise InvalidPhoneCode("A dev phone code is the phone number itself.")
        return code
