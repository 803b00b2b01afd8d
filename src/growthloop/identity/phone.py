"""Verified phone numbers: a keyed hash for lookups, the number itself encrypted.

The platform verifies the number (WeChat `getPhoneNumber` -> a one-time code the server
exchanges); the member row keeps HMAC-SHA256(key, normalised number) to recognise the same
person at an alliance partner without comparing the number in clear, and the number sealed
with AES-GCM (`phone_encrypted`, growthloop.core.crypto) so staff can be shown it masked.
The hash key is derived from GROWTHLOOP_SECRET_KEY: rotating the secret unlinks every
verified phone until members verify again (rotating the PII encryption keys does not).

The spelling, hash and mask of a number live here; verifying and removing a member's
number are identity's service (`service.verify_phone`, `service.remove_phone`).
"""

from __future__ import annotations

import re

from growthloop.core import crypto

_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEPARATORS = re.compile(r"[\s\-()]")


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


def phone_hash(secret: str, normalised: str) -> str:
    return crypto.keyed_hash(secret, normalised, purpose="phone")


def mask_phone(normalised: str) -> str:
    """138****1234: enough for the member to recognise their number, not to read it."""
    return crypto.mask_phone(normalised)
