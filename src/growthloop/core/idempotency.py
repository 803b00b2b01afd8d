"""`Idempotency-Key` on creating POSTs.

The key row is inserted in the same transaction as the request's own writes, so the
stored response exists exactly when the writes do. A concurrent request with the same
key waits on the unique index (PostgreSQL) or the writer lock (SQLite) and then
replays the first response. A request that failed wrote nothing, key included, so it
may be retried with the same key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from growthloop.core.errors import Conflict, Invalid
from growthloop.core.models import (
    Base,
    Category,
    Personal,
    Retention,
    UTCDateTime,
    col,
    id_column,
)

KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 200


class IdempotencyKeyReused(Invalid):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with a different request."


class IdempotencyKeyInvalid(Invalid):
    code = "invalid_idempotency_key"
    message = "The Idempotency-Key header must be 1 to 200 printable characters."


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency_key_in_flight"
    message = "A request with this Idempotency-Key is still being processed."


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    id: Mapped[str] = id_column()
    scope: Mapped[str] = col(String(64), nullable=False, pii=None)
    key: Mapped[str] = col(String(MAX_KEY_LENGTH), nullable=False, pii=None)
    fingerprint: Mapped[str] = col(String(64), nullable=False, pii=None)
    status_code: Mapped[int | None] = col(Integer, pii=None)
    body: Mapped[bytes | None] = col(
        LargeBinary,
        pii=Personal(
            Category.IDENTIFIER,
            "replay the first response to a retried request",
            retention=Retention.ONE_DAY,
            purpose_zh="重复提交时返回首次处理结果，避免重复下单或扣款",
        ),
    )
    created_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, index=True, pii=None)

    __table_args__ = (UniqueConstraint("scope", "key"),)


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x00")
    return h.hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyKeyInvalid()
    return key


async def _find(session: AsyncSession, scope: str, key: str) -> IdempotencyRecord | None:
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def _replay(record: IdempotencyRecord, fingerprint: str) -> StoredResponse:
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if record.status_code is None or record.body is None:
        raise IdempotencyKeyInFlight()
    return StoredResponse(record.status_code, record.body)


async def begin(
    session: AsyncSession, scope: str, key: str, fingerprint: str, now: datetime
) -> StoredResponse | IdempotencyRecord:
    """Claim the key in this transaction, or return the response stored under it."""
    existing = await _find(session, scope, key)
    if existing is not None and existing.created_at < now - KEY_TTL:
        await session.delete(existing)  # past its lifetime: the purge sweep just hasn't run
        await session.flush()
        existing = None
    if existing is not None:
        return _replay(existing, fingerprint)
    record = IdempotencyRecord(scope=scope, key=key, fingerprint=fingerprint, created_at=now)
    try:
        async with session.begin_nested():
            session.add(record)
    except IntegrityError:
        # Another request claimed it and committed while we waited on the index.
        existing = await _find(session, scope, key)
        if existing is None:  # pragma: no cover - the index said otherwise
            raise IdempotencyKeyInFlight() from None
        return _replay(existing, fingerprint)
    return record


async def finish(
    session: AsyncSession, record: IdempotencyRecord, status: int, body: bytes
) -> None:
    record.status_code = status
    record.body = body
    await session.flush()


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - KEY_TTL)
    )
    return int(getattr(result, "rowcount", 0) or 0)
