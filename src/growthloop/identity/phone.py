"""Verified phone numbers: a keyed hash for lookups, the number itself encrypted.

The platform verifies the number (WeChat `getPhoneNumber` -> a one-time code the server
exchanges); the member row keeps HMAC-SHA256(key, normalised number) to recognise the same
person at an alliance partner without comparing the number in clear, and the number sealed
with AES-GCM (`phone_encrypted`, growthloop.core.crypto) so staff can be shown it masked.
The hash key is derived from GROWTHLOOP_SECRET_KEY: rotating the secret unlinks every
verified phone until members verify again (rotating the PII encryption keys does not).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core import audit, crypto
from growthloop.core.errors import Invalid
from growthloop.identity import repository as repo
from growthloop.identity.errors import MemberNotFound, PlatformNotEnabled
from growthloop.identity.models import Member

if TYPE_CHECKING:
    from growthloop.identity.platforms import PlatformAdapter

_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEPARATORS = re.compile(r"[\s\-()]")


class InvalidPhoneCode(Invalid):
    code = "invalid_phone_code"
    message = "The platform did not verify a phone number for this code."


def normalize_phone(raw: str) -> str | None:
    """One spelling per number: mainland mobiles as their 11 digits (+86 / 0086 / 86 prefix
    removed), other countries' numbers in E.164 (`+` and digits). None if it is no mobile
    number."""
    if len(raw) > 32:
        return None
    number = _SEPARATORS.sub("", raw.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    if number.startswith("+86"):  # platforms verify mobiles only
        return number[3:] if _CN_MOBILE.match(number[3:]) else None
    if number.startswith("86") and _CN_MOBILE.match(number[2:]):
        return number[2:]
    if _CN_MOBILE.match(number) or _E164.match(number):
        return number
    return None


async def _own_member(session: AsyncSession, merchant_id: str, member_id: str) -> Member:
    member = await repo.get_member(session, member_id)
    if member is None or member.merchant_id != merchant_id:
        raise MemberNotFound(member_id=member_id)
    return member


def phone_hash(secret: str, normalised: str) -> str:
    return crypto.keyed_hash(secret, normalised, purpose="phone")


def mask_phone(normalised: str) -> str:
    """138****1234: enough for the member to recognise their number, not to read it."""
    return crypto.mask_phone(normalised)


async def verify_phone(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    platform: str | None,
    code: str,
    adapters: dict[str, Any],
    secret: str,
) -> str:
    """Exchange the platform's phone code, keep the number's keyed hash and the number
    encrypted on the member, and return the masked number. `platform` defaults to the one
    the member signed up on."""
    member = await _own_member(session, merchant_id, member_id)
    platform = platform or member.signup_platform
    adapter: PlatformAdapter | None = adapters.get(platform)
    if adapter is None:
        raise PlatformNotEnabled(platform=platform)
    normalised = normalize_phone(await adapter.exchange_phone_code(code))
    if normalised is None:
        raise InvalidPhoneCode()
    member.phone_hash = phone_hash(secret, normalised)
    member.phone_encrypted = normalised
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="member",
        actor_id=member_id,
        action="member.phone_verified",
        subject_type="member",
        subject_id=member_id,
        member_id=member_id,
        platform=platform,
    )
    return mask_phone(normalised)


async def remove_phone(session: AsyncSession, *, merchant_id: str, member_id: str) -> None:
    """Withdraw the verified phone: partners no longer recognise the member by it."""
    member = await _own_member(session, merchant_id, member_id)
    if member.phone_hash is None and member.phone_encrypted is None:
        return
    member.phone_hash = None
    member.phone_encrypted = None
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="member",
        actor_id=member_id,
        action="member.phone_removed",
        subject_type="member",
        subject_id=member_id,
        member_id=member_id,
    )
