"""Login platform adapters: turn a mini-program login code into a platform identity.

WeChat (`jscode2session`), Alipay (`alipay.system.oauth.token`) and Douyin
(`jscode2session`) implement `PlatformAdapter` when their credentials are configured;
`dev` (GROWTHLOOP_DEV_LOGIN=1) takes the code as the user's stable external id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from growthloop.identity.errors import InvalidLoginCode


@dataclass(frozen=True)
class PlatformIdentity:
    platform: str
    app_id: str
    openid: str
    unionid: str | None = None


class PlatformAdapter(Protocol):
    platform: str

    async def exchange_code(self, code: str) -> PlatformIdentity: ...


class DevAdapter:
    platform = "dev"

    async def exchange_code(self, code: str) -> PlatformIdentity:
        code = code.strip()
        if not 1 <= len(code) <= 128 or not code.isprintable():
            raise InvalidLoginCode("A dev login code is 1 to 128 printable characters.")
        return PlatformIdentity(platform="dev", app_id="", openid=code)
