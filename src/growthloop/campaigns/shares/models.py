"""Share codes and the visits they brought.

A code stands for (sharer, target, channel) and is the same every time that member
shares that target on that channel. It fits a WeChat mini-program QR scene (at most 32
visible characters) as `s=<code>`.
"""

from __future__ import annotations

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped

from growthloop.core.models import (
    Base,
    Category,
    CreatedAt,
    MerchantOwned,
    Personal,
    col,
    merchant_column,
)


class ShareCode(CreatedAt, Base):
    __tablename__ = "share_codes"

    code: Mapped[str] = col(String(12), primary_key=True, pii=None)
    merchant_id: Mapped[str] = merchant_column()
    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    target_type: Mapped[str] = col(String(24), nullable=False, pii=None)
    target_id: Mapped[str] = col(String(64), nullable=False, pii=None)
    channel: Mapped[str] = col(String(16), nullable=False, pii=None)

    __table_args__ = (
        UniqueConstraint("merchant_id", "member_id", "target_type", "target_id", "channel"),
    )


class ShareVisit(MerchantOwned, CreatedAt, Base):
    """What a code brought: an `open` of the link or QR code, a `register` or `login`
    through it, then the visitor's `purchase`, `help` (a bargain) or `join` (a group)."""

    __tablename__ = "share_visits"

    code: Mapped[str] = col(String(12), nullable=False, index=True, pii=None)
    sharer_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    visitor_member_id: Mapped[str | None] = col(String(26), pii=None)
    anonymous_id: Mapped[str | None] = col(
        String(64),
        pii=Personal(
            Category.IDENTIFIER,
            "attribute an anonymous visit to the shared link",
            purpose_zh="将未登录时的访问归因到分享链接",
        ),
    )
    kind: Mapped[str] = col(String(16), nullable=False, pii=None)
    ref: Mapped[str | None] = col(String(26), pii=None)  # the order, bargain or group

    __table_args__ = (
        Index("ix_share_visits_visitor", "merchant_id", "visitor_member_id", "created_at"),
        UniqueConstraint("code", "kind", "ref"),
    )
