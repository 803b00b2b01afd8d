from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped

from growthloop.core.models import (
    Base,
    Category,
    CreatedAt,
    MerchantOwned,
    Personal,
    Retention,
    UTCDateTime,
    col,
    created_column,
)

DEVICE_ID = Personal(
    Category.IDENTIFIER,
    purpose="count visitors as people across devices and link them to their member at login",
    basis="consent",
    retention=Retention.DEVICE,
    purpose_zh="跨设备统计访客人数，并在您登录时关联到您的会员身份",
)


class AnalyticsIdentity(CreatedAt, Base):
    """Which person an analytics distinct id stands for: the member's id and platform ids
    (written at sign-up and login) and anonymous device ids linked by an identify call.
    The first link of an id wins; two members are never merged."""

    __tablename__ = "analytics_identities"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    distinct_id: Mapped[str] = col(String(200), primary_key=True, pii=DEVICE_ID)
    person_id: Mapped[str] = col(String(200), nullable=False, pii=DEVICE_ID)
    member_id: Mapped[str | None] = col(String(26), pii=None)
    source: Mapped[str] = col(String(16), nullable=False, pii=None)  # member | identify
    # On the member's own row: the end they last signed in from, for their business events.
    platform_hint: Mapped[str | None] = col(String(16), pii=None)

    __table_args__ = (
        Index("ix_analytics_identities_person", "merchant_id", "person_id"),
        Index("ix_analytics_identities_member", "merchant_id", "member_id"),
    )


class AnalyticsOutbox(MerchantOwned, Base):
    """Business events waiting for the event store, written in the transaction of the
    action that caused them; the flush moves them in bulk (their id becomes the uuid)."""

    __tablename__ = "analytics_outbox"

    event: Mapped[str] = col(String(64), nullable=False, pii=None)
    member_id: Mapped[str | None] = col(String(26), pii=None)
    time: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    platform: Mapped[str] = col(String(16), nullable=False, pii=None)
    amount: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    share_code: Mapped[str | None] = col(String(32), pii=None)
    channel: Mapped[str | None] = col(String(64), pii=None)
    properties: Mapped[dict[str, Any]] = col(JSON, nullable=False, pii=None)
    # Set when a flush takes the row; the store writes a key's batch once.
    batch_key: Mapped[str | None] = col(String(40), index=True, pii=None)


class AlertRule(MerchantOwned, CreatedAt, Base):
    __tablename__ = "alert_rules"

    name: Mapped[str] = col(String(100), nullable=False, pii=None)
    metric: Mapped[str] = col(String(32), nullable=False, pii=None)
    period: Mapped[str] = col(String(8), nullable=False, pii=None)  # day | hour
    kind: Mapped[str] = col(String(16), nullable=False, pii=None)  # threshold | anomaly
    direction: Mapped[str] = col(String(8), nullable=False, pii=None)  # below | above | both
    threshold: Mapped[int | None] = col(BigInteger, pii=None)
    # anomaly: how far from the same weekday of the previous 4 weeks, in percent
    deviation_percent: Mapped[int | None] = col(Integer, pii=None)
    min_expected: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    webhook_url: Mapped[str | None] = col(String(500), pii=None)
    webhook_secret: Mapped[str] = col(String(64), nullable=False, pii=None)
    enabled: Mapped[bool] = col(Boolean, nullable=False, default=True, pii=None)


class AlertRecord(MerchantOwned, Base):
    """A fired alert: one per rule and period (the unique key is the dedup)."""

    __tablename__ = "alerts"

    rule_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    period_start: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    metric: Mapped[str] = col(String(32), nullable=False, pii=None)
    value: Mapped[int] = col(JSON, nullable=False, pii=None)  # a count, or fen
    expected: Mapped[int | float | None] = col(JSON, pii=None)  # fen for money metrics
    message: Mapped[str] = col(Text, nullable=False, pii=None)
    fired_at: Mapped[datetime] = created_column()
    webhook_status: Mapped[str] = col(
        String(16), nullable=False, pii=None
    )  # none|pending|sent|failed
    webhook_attempts: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    next_attempt_at: Mapped[datetime | None] = col(UTCDateTime(), index=True, pii=None)
    last_error: Mapped[str | None] = col(String(200), pii=None)

    __table_args__ = (UniqueConstraint("rule_id", "period_start"),)
