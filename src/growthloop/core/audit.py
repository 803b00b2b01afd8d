"""The audit log: append-only, written in the same transaction as the action it records.

Entries name the actor, the action and the subject by id, with non-personal details
(amounts, statuses, reasons). They never hold secrets, tokens, or personal data in clear.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from growthloop.core.context import now
from growthloop.core.models import Base, UTCDateTime, col, id_column, merchant_column


class Action(StrEnum):
    """Every action the audit log records; its value is what the log stores."""

    ADMIN_CREATE = "admin.create"
    ALERT_RULE_CREATE = "alert_rule.create"
    ALERT_RULE_DELETE = "alert_rule.delete"
    ALLIANCE_PARTNERSHIP_ACCEPT = "alliance.partnership.accept"
    ALLIANCE_PARTNERSHIP_END = "alliance.partnership.end"
    ALLIANCE_PARTNERSHIP_PROPOSE = "alliance.partnership.propose"
    ALLIANCE_PARTNERSHIP_RESUME = "alliance.partnership.resume"
    ALLIANCE_PARTNERSHIP_SUSPEND = "alliance.partnership.suspend"
    ALLIANCE_SETTLEMENT_EXPORT = "alliance.settlement.export"
    BARGAIN_CREATE = "bargain.create"
    BARGAIN_END = "bargain.end"
    COMMISSION_WITHDRAWAL_APPROVED = "commission.withdrawal.approved"
    COMMISSION_WITHDRAWAL_REJECTED = "commission.withdrawal.rejected"
    COMMISSION_WITHDRAWAL_REQUEST = "commission.withdrawal.request"
    CONSENT_GRANT = "consent.grant"
    CONSENT_REFUSE = "consent.refuse"
    COUPON_ISSUE = "coupon.issue"
    DATA_EXPORT = "data.export"
    DELETION_CANCEL = "deletion.cancel"
    DELETION_REQUEST = "deletion.request"
    DISTRIBUTION_SETTINGS = "distribution.settings"
    FLASH_SALE_CREATE = "flash_sale.create"
    FLASH_SALE_END = "flash_sale.end"
    GROUP_BUY_CREATE = "group_buy.create"
    GROUP_BUY_END = "group_buy.end"
    INVITE_RULE_CREATE = "invite_rule.create"
    INVITE_RULE_END = "invite_rule.end"
    LOTTERY_CREATE = "lottery.create"
    LOTTERY_END = "lottery.end"
    LOTTERY_VOUCHER_REDEEM = "lottery.voucher.redeem"
    MALL_REDEMPTION_CANCEL = "mall.redemption.cancel"
    MALL_REDEMPTION_FULFIL = "mall.redemption.fulfil"
    MALL_REWARD_CREATE = "mall.reward.create"
    MALL_REWARD_UPDATE = "mall.reward.update"
    MARKETING_BROADCAST = "marketing.broadcast"
    MEMBER_ERASE = "member.erase"
    MEMBER_PHONE_REMOVED = "member.phone_removed"
    MEMBER_PHONE_VERIFIED = "member.phone_verified"
    MEMBERS_EXPORT = "members.export"
    MERCHANT_SETTINGS_UPDATE = "merchant.settings_update"
    ORDER_REFUND = "order.refund"
    PII_REVEAL = "pii.reveal"


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
    action: Action,
    subject_type: str,
    subject_id: str,
    member_id: str | None = None,
    **details: Any,
) -> None:
    """One entry, in the caller's transaction (a RuntimeError outside a unit of work)."""
    session.add(
        AuditEntry(
            merchant_id=merchant_id,
            actor_type=actor_type,
            actor_id=actor_id,
            action=str(action),
            subject_type=subject_type,
            subject_id=subject_id,
            member_id=member_id,
            details=details,
            created_at=now(session),
        )
    )


async def by_admin(
    session: AsyncSession,
    merchant_id: str,
    admin_id: str,
    action: Action,
    *,
    subject_type: str,
    subject_id: str,
    member_id: str | None = None,
    **details: Any,
) -> None:
    """An entry for what a staff member did."""
    await record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        member_id=member_id,
        **details,
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


async def by_member(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    action: Action,
    *,
    subject_type: str = "member",
    subject_id: str | None = None,
    **details: Any,
) -> None:
    """An entry for what a member did to their own account or data (the subject defaults
    to the member)."""
    await record(
        session,
        merchant_id=merchant_id,
        actor_type="member",
        actor_id=member_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id or member_id,
        member_id=member_id,
        **details,
    )
