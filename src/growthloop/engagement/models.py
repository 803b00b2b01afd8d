from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped

from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col, created_column


class Broadcast(MerchantOwned, CreatedAt, Base):
    """A marketing message an operator sent to members: who got it, and how many were left
    out for want of marketing consent."""

    __tablename__ = "broadcasts"

    title: Mapped[str] = col(String(100), nullable=False, pii=None)
    body: Mapped[str] = col(Text, nullable=False, pii=None)
    sent: Mapped[int] = col(Integer, nullable=False, pii=None)
    skipped_no_consent: Mapped[int] = col(Integer, nullable=False, pii=None)
    created_by: Mapped[str] = col(String(26), nullable=False, pii=None)


class InboxMessage(MerchantOwned, Base):
    """One member's copy of a broadcast in their in-app inbox (站内信)."""

    __tablename__ = "inbox_messages"

    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    broadcast_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    title: Mapped[str] = col(String(100), nullable=False, pii=None)
    body: Mapped[str] = col(Text, nullable=False, pii=None)
    sent_at: Mapped[datetime] = created_column()
    read_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (Index("ix_inbox_messages_member", "merchant_id", "member_id", "id"),)
