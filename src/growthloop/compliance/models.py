from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, String
from sqlalchemy.orm import Mapped

from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col, created_column


class ConsentRecord(MerchantOwned, CreatedAt, Base):
    """The consent ledger: every decision of a member on a purpose. Append-only."""

    __tablename__ = "consent_ledger"

    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    purpose: Mapped[str] = col(String(32), nullable=False, pii=None)
    granted: Mapped[bool] = col(Boolean, nullable=False, pii=None)
    policy_version: Mapped[str] = col(String(32), nullable=False, pii=None)
    platform: Mapped[str | None] = col(String(16), pii=None)
    source: Mapped[str] = col(String(32), nullable=False, pii=None)  # member | first_payment ...

    __table_args__ = (Index("ix_consent_ledger_member", "member_id", "id"),)


class ConsentState(Base):
    """The latest decision per member and purpose (a projection of the ledger): consent checks
    are one primary-key read, and a change is a guarded update whose rowcount says it changed."""

    __tablename__ = "consent_states"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    member_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    purpose: Mapped[str] = col(String(32), primary_key=True, pii=None)
    granted: Mapped[bool] = col(Boolean, nullable=False, pii=None)
    policy_version: Mapped[str] = col(String(32), nullable=False, pii=None)
    platform: Mapped[str | None] = col(String(16), pii=None)
    record_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    updated_at: Mapped[datetime] = created_column()


class DeletionRequest(MerchantOwned, Base):
    """A member's request to delete their account (注销): carried out when its cooling-off
    period ends unless the member cancels; the receipt says what was erased, without any
    personal data."""

    __tablename__ = "deletion_requests"

    member_id: Mapped[str] = col(String(26), nullable=False, index=True, pii=None)
    status: Mapped[str] = col(String(16), nullable=False, pii=None)  # pending|cancelled|done
    requested_at: Mapped[datetime] = created_column()
    scheduled_for: Mapped[datetime] = col(UTCDateTime(), nullable=False, index=True, pii=None)
    deadline: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    cancelled_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    done_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    receipt: Mapped[dict[str, Any] | None] = col(JSON, pii=None)

    __table_args__ = (Index("ix_deletion_requests_status_due", "status", "scheduled_for"),)
