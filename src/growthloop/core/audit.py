"""The audit log: append-only, written in the same transaction as the action it records.

Entries name the actor, the action and the subject by id, with non-personal details
(amounts, statuses, reasons). They never hold secrets, tokens, or personal data in clear.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from growthloop.core.clock import Clock
from growthloop.core.models import Base, UTCDateTime, col, id_column, merchant_column


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = merchant_column()
    actor_type: Mapped[str] = col(String(16), nullable=False, pii=None)  # admin|member|system
    actor_id: Mapped[str | None] = col(String(26), pii=None)
    action: Mapped[str] = col(String(64), nullable=False, pii=None)
    subject_type: Mapped[str] = col(String(32), nullable=False, pii=None)
    subject_id: Mapped[str] = col(String(64), nullable=False, pii=None)
    member_id: Mapped[str | None] = col(String(26), pii=None)
    details: Mapped[dict[str, Any]] = col(JSON, nullable=False, default=dict, pii=None)
    created_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)

    __table_args__ = (
        Index("ix_audit_log_merchant_time", "merchant_id", "created_at"),
        Index("ix_audit_log_member", "member_id"),
    )


async def record(
    session: AsyncSession,
    *,
    merchant_id: str,
    actor_type: str,
    actor_id: str | None,
    action: str,
    subject_type: str,
    subject_id: str,
    member_id: str | None = None,
    **details: Any,
) -> None:
    clock = session.info.get("clock")
    now = clock.now() if isinstance(clock, Clock) else None
    if now is None:
        raise RuntimeError("audit entries are written inside a unit of work")
    session.add(
        AuditEntry(
            merchant_id=merchant_id,
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            member_id=member_id,
            details=details,
            created_at=now,
        )
    )


async def entries(
    session: AsyncSession,
    merchant_id: str,
    *,
    member_id: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    before_id: str | None = None,
) -> list[AuditEntry]:
    """The merchant's audit entries, newest first, filtered by member, actor and time."""
    stmt = select(AuditEntry).where(AuditEntry.merchant_id == merchant_id)
    if member_id:
        stmt = stmt.where(AuditEntry.member_id == member_id)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if since:
        stmt = stmt.where(AuditEntry.created_at >= since)
    if until:
        stmt = stmt.where(AuditEntry.created_at < until)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list((await session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit))).all())
