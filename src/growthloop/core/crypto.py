"""Personal data encrypted at rest, keyed hashes for lookups, and masks for staff.

Values are sealed with AES-256-GCM (`cryptography`'s AESGCM; no home-made crypto) and
stored as text: ``enc:v1:<kid>:<base64(nonce | ciphertext | tag)>`` with a random 12-byte
nonce. The associated data is the column's ``table.column`` name, so a sealed value
copied into another column (or another table) does not open there.

Keys. `GROWTHLOOP_PII_KEYS` = ``"kid:base64key,kid2:base64key"`` (32-byte keys, the LAST
one seals new values; the others only open old ones). Without it, one key ``k0`` is
derived from GROWTHLOOP_SECRET_KEY with HKDF, so dev and tests need no setup. That is
acceptable in production too, because the settings refuse the default secret outside
dev; but then rotating the secret makes every sealed value unreadable. Production should
set explicit keys; the derived ``k0`` stays readable next to them (unless a key is named
``k0``), so moving to explicit keys is: set them, run `growthloop compliance rotate-keys`.

Rotation is lazy: a value names its key, so after a new key is appended old values still
open; `rotate_keys` (the CLI command) rewrites every sealed column under the newest key,
in batches, with guarded updates; it is idempotent. A stored value that is not sealed
(written by hand, restored from a dump) is never handed back as if it were: reading it
raises `PlaintextValue`; `rotate_keys` seals it and counts it.

The key ring is process-wide (`configure_keys`, called by `build_runtime`), because a
column type has no other way to reach it. Rotating while a running process lacks the new
key would lock it out of the data, so every long-running process records the key ids it
holds (`core.processes`) and the commands check them against `key_usage`: which key ids
the stored values are sealed with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import (
    Column,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    and_,
    case,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Dialect

if TYPE_CHECKING:
    from growthloop.core.db import Database

PREFIX = "enc:v1:"
DERIVED_KID = "k0"
NONCE_BYTES = 12
KEY_BYTES = 32
_KID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")

T = TypeVar("T")


class PIIKeyError(Exception):
    """A sealed value cannot be opened (or a key ring cannot be built)."""


class SealedValueUnreadable(PIIKeyError):
    """A value sealed with key id `kid` does not open here (`context`: where it is stored);
    the HTTP layer answers 503. Each kind says why in its `template`."""

    template: ClassVar[str]

    def __init__(self, kid: str, context: str) -> None:
        super().__init__(self.template.format(kid=kid, context=context))
        self.kid = kid
        self.context = context


class UnknownKeyId(SealedValueUnreadable):
    """The value names a key this process does not hold."""

    template = (
        "{context} is sealed with key id {kid!r}, which is not in GROWTHLOOP_PII_KEYS: "
        "add the old key back (keys before the newest one only decrypt)"
    )


class UndecryptableValue(SealedValueUnreadable):
    """The key named by the value does not open it: this process holds another key under
    that id (a typo, another secret's k0), or the value was tampered with or moved."""

    template = (
        "{context}: the value does not open with key {kid!r} "
        "(tampered with, moved from another column, or another key under that id)"
    )


class PlaintextValue(PIIKeyError):
    def __init__(self, context: str) -> None:
        super().__init__(
            f"{context} holds a value that is not encrypted; run "
            "`growthloop compliance rotate-keys` to seal it"
        )


class KeysNotConfigured(PIIKeyError):
    pass


def derive_key(secret: str, info: bytes = b"growthloop pii k0") -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(
        secret.encode()
    )


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    """``"kid:base64key,kid2:base64key"`` -> [(kid, key)], oldest first."""
    keys: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        kid, sep, encoded = part.partition(":")
        if not sep or not _KID.match(kid):
            raise PIIKeyError("GROWTHLOOP_PII_KEYS: each key is kid:base64 (kid: [A-Za-z0-9_-])")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise PIIKeyError(f"GROWTHLOOP_PII_KEYS: key {kid!r} is not base64") from None
        if len(key) != KEY_BYTES:
            raise PIIKeyError(f"GROWTHLOOP_PII_KEYS: key {kid!r} must be {KEY_BYTES} bytes")
        if kid in dict(keys):
            raise PIIKeyError(f"GROWTHLOOP_PII_KEYS: key id {kid!r} appears twice")
        keys.append((kid, key))
    if not keys:
        raise PIIKeyError("GROWTHLOOP_PII_KEYS is set but names no key")
    return keys


def key_check(key: bytes) -> str:
    """A short fingerprint of a key (HMAC of a fixed label, 8 hex digits): two processes
    holding different keys under one id can be told apart without showing either key."""
    return hmac.new(key, b"growthloop pii key check v1", hashlib.sha256).hexdigest()[:8]


def new_key() -> str:
    """A fresh key for GROWTHLOOP_PII_KEYS, base64."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


@dataclass(frozen=True)
class Sealed:
    kid: str
    blob: bytes


def split(stored: str) -> Sealed | None:
    """The key id and the nonce|ciphertext|tag of a sealed value; None if not sealed."""
    if not stored.startswith(PREFIX):
        return None
    kid, sep, encoded = stored[len(PREFIX) :].partition(":")
    if not sep:
        return None
    try:
        return Sealed(kid, base64.b64decode(encoded, validate=True))
    except binascii.Error:
        return None


class KeyRing:
    """AES-256-GCM keys by id; the last one seals."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise PIIKeyError("a key ring needs at least one key")
        self._keys = {kid: AESGCM(key) for kid, key in keys}
        self.checks = {kid: key_check(key) for kid, key in keys}
        self.current_kid = keys[-1][0]

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.current_kid].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{PREFIX}{self.current_kid}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, context: str) -> str:
        sealed = split(stored)
        if sealed is None:
            raise PlaintextValue(context)
        aead = self._keys.get(sealed.kid)
        if aead is None:
            raise UnknownKeyId(sealed.kid, context)
        nonce, body = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, body, context.encode()).decode()
        except InvalidTag:
            raise UndecryptableValue(sealed.kid, context) from None


def key_ring(pii_keys: str | None, secret_key: str) -> KeyRing:
    """The settings' ring: the explicit keys, plus the secret-derived k0 to open values
    sealed before they were set (unless a key is itself named k0)."""
    derived = (DERIVED_KID, derive_key(secret_key))
    if not pii_keys:
        return KeyRing([derived])
    keys = parse_keys(pii_keys)
    if DERIVED_KID not in dict(keys):
        keys.insert(0, derived)
    return KeyRing(keys)


_ring: KeyRing | None = None


def configure_keys(ring: KeyRing) -> None:
    global _ring  # the one process-wide ring the column types read
    _ring = ring


def current_keys() -> KeyRing:
    if _ring is None:
        raise KeysNotConfigured("configure_keys() was not called (build_runtime does it)")
    return _ring


# ---- keyed hashes for lookups ----------------------------------------------------------


def lookup_key(secret: str, purpose: str) -> bytes:
    """The HMAC key of one lookup purpose. Derived from the secret, not from the PII keys:
    rotating encryption keys leaves lookups working. ("phone" gives the derivation phone
    hashes have always used, so hashes stored before stay valid.)"""
    return hashlib.sha256(f"growthloop-{purpose}:".encode() + secret.encode()).digest()


def keyed_hash(secret: str, value: str, purpose: str = "phone") -> str:
    """HMAC-SHA256 of `value`, hex: equal values hash equal, the value cannot be read back."""
    return hmac.new(lookup_key(secret, purpose), value.encode(), hashlib.sha256).hexdigest()


# ---- column types ----------------------------------------------------------------------


class Encrypted(TypeDecorator[T]):
    """Seals on bind, opens on result. `context` is the column's ``table.column`` name,
    the associated data (checked against the column by `check_contexts`)."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def dump(self, value: T) -> str:
        raise NotImplementedError

    def load(self, text: str) -> T:
        raise NotImplementedError

    def process_bind_param(self, value: T | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return current_keys().encrypt(self.dump(value), self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> T | None:
        if value is None:
            return None
        return self.load(current_keys().decrypt(str(value), self.context))


class EncryptedText(Encrypted[str]):
    cache_ok = True

    def dump(self, value: str) -> str:
        return value

    def load(self, text: str) -> str:
        return text


class EncryptedDate(Encrypted[date]):
    """A date, sealed as its ISO text ``YYYY-MM-DD``."""

    cache_ok = True

    def dump(self, value: date) -> str:
        return value.isoformat()

    def load(self, text: str) -> date:
        return date.fromisoformat(text)


def encrypted_columns(metadata: MetaData) -> list[tuple[Table, Column[Any]]]:
    return [
        (table, column)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Encrypted)
    ]


def check_contexts(metadata: MetaData) -> list[str]:
    """Encrypted columns whose associated data is not their own ``table.column``."""
    return [
        f"{t.name}.{c.name}"
        for t, c in encrypted_columns(metadata)
        if getattr(c.type, "context", None) != f"{t.name}.{c.name}"
    ]


# ---- rotation --------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyUsage:
    """How many values of one column are sealed with one key id (`kid` None: not sealed),
    and one of them (the least), to check that a ring opens them."""

    context: str
    kid: str | None
    rows: int
    sample: str


async def key_usage(db: Database, metadata: MetaData) -> list[KeyUsage]:
    """The key ids the stored values are sealed with, per column: one grouped query per
    column, reading only the key id out of each value."""
    usage: list[KeyUsage] = []
    for table, column in encrypted_columns(metadata):
        raw = type_coerce(column, Text)
        body = func.substr(raw, len(PREFIX) + 1)
        # the position of the colon after the key id; 0 if none
        colon = (func.strpos if db.dialect == "postgresql" else func.instr)(body, ":")
        kid = case(
            (
                and_(raw.startswith(PREFIX, autoescape=True), colon > 1),
                func.substr(body, 1, colon - 1),
            ),
            else_=None,
        )
        values = select(kid.label("kid"), raw.label("raw")).where(column.is_not(None)).subquery()
        query = select(values.c.kid, func.count(), func.min(values.c.raw)).group_by(values.c.kid)
        async with db.unit_of_work(write=False) as uow:
            rows = (await uow.session.execute(query)).all()
        context = f"{table.name}.{column.name}"
        usage += [KeyUsage(context, k, n, sample) for k, n, sample in rows]
    return sorted(usage, key=lambda u: (u.context, u.kid or ""))


def rows_by_kid(usage: Sequence[KeyUsage]) -> dict[str, int]:
    """Sealed values per key id, over every column."""
    totals: dict[str, int] = {}
    for u in usage:
        if u.kid is not None:
            totals[u.kid] = totals.get(u.kid, 0) + u.rows
    return dict(sorted(totals.items()))


def unreadable(usage: Sequence[KeyUsage], ring: KeyRing) -> dict[str, str]:
    """The key ids of stored values that `ring` cannot open: kid -> why (`missing`, or
    `different key` when the ring holds another key under that id)."""
    found: dict[str, str] = {}
    for u in usage:
        if u.kid is None or u.kid in found:
            continue
        try:
            ring.decrypt(u.sample, u.context)
        except UnknownKeyId:
            found[u.kid] = "missing"
        except UndecryptableValue:
            found[u.kid] = "different key"
    return found


async def rotate_keys(
    db: Database,
    metadata: MetaData,
    ring: KeyRing,
    *,
    batch_size: int = 500,
    before_batch: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, dict[str, int]]:
    """Rewrite every sealed value not under the newest key, and seal plaintext ones.

    Per column: `rotated` (re-sealed from an older key), `sealed` (was plaintext),
    `current` (already under the newest key). Each batch is its own transaction; an update
    only applies if the row still holds the value read, so a concurrent write wins.
    `before_batch` runs before each batch and may stop the rotation by raising (the CLI
    checks there that no process lacking the key has started meanwhile).
    """
    counts: dict[str, dict[str, int]] = {}
    for table, column in encrypted_columns(metadata):
        (pk,) = table.primary_key.columns  # every sealed table has a one-column key
        context = f"{table.name}.{column.name}"
        tally = counts[context] = {"rotated": 0, "sealed": 0, "current": 0}
        raw = type_coerce(column, Text)
        after: Any = None
        while True:
            if before_batch is not None:
                await before_batch()
            query = select(pk, raw).where(column.is_not(None)).order_by(pk).limit(batch_size)
            if after is not None:
                query = query.where(pk > after)
            async with db.unit_of_work() as uow:
                rows = (await uow.session.execute(query)).all()
                for key, stored in rows:
                    sealed = split(stored)
                    if sealed is not None and sealed.kid == ring.current_kid:
                        tally["current"] += 1
                        continue
                    plain = stored if sealed is None else ring.decrypt(stored, context)
                    tally["sealed" if sealed is None else "rotated"] += 1
                    await uow.session.execute(
                        update(table)
                        .where(pk == key, raw == type_coerce(stored, Text))
                        .values({column.name: type_coerce(ring.encrypt(plain, context), Text)})
                    )
            if len(rows) < batch_size:
                break
            after = rows[-1][0]
    return counts


# ---- masks for staff -------------------------------------------------------------------


def mask_phone(number: str) -> str:
    """138****1234: enough to recognise a number, not to read it."""
    if len(number) >= 9:
        return number[:3] + "****" + number[-4:]
    return "****" + number[-2:]


def mask_name(name: str) -> str:
    """张三 -> 张*."""
    return name[:1] + "*"


def mask_address(address: str) -> str:
    """The first 6 characters (province and city, usually), then ****."""
    return address[:6] + "****"


def masked(value: str | None, mask: Callable[[str], str]) -> str | None:
    return None if value is None else mask(value)
