from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped

from growthloop.core.crypto import EncryptedDate, EncryptedText
from growthloop.core.models import (
    Base,
    Category,
    CreatedAt,
    MerchantOwned,
    Personal,
    Retention,
    UTCDateTime,
    col,
    id_column,
)

LOGIN_ID = Personal(
    Category.IDENTIFIER,
    "log the member in and recognise them across ends",
    purpose_zh="登录并在小程序、应用等不同端识别您的会员身份",
)
SHOP_CONTACT = Personal(
    Category.CONTACT,
    "let customers reach the shop",
    retention=Retention.WHILE_MERCHANT,
    purpose_zh="便于顾客联系商家",
)
# An operator's login email (and, as a credential, their password hash).
OPERATOR_SIGN_IN = Personal(
    Category.CONTACT,
    "operator sign-in",
    retention=Retention.WHILE_ACCOUNT,
    purpose_zh="商家员工登录",
)
# The inviter, on the invitee's row (by code and by id).
INVITED_BY = Personal(
    Category.IDENTIFIER,
    "credit the member who invited them",
    purpose_zh="记录邀请您的会员，为其发放邀请奖励",
)
# The birthday, and its month and day kept beside it for the birthday sweep.
BIRTHDAY_GIFTS = Personal(
    Category.PROFILE, "birthday gifts", basis="consent", purpose_zh="在您生日时发放生日礼"
)


class Merchant(CreatedAt, Base):
    __tablename__ = "merchants"

    id: Mapped[str] = id_column()
    name: Mapped[str] = col(String(100), nullable=False, pii=None)
    timezone: Mapped[str] = col(String(64), nullable=False, default="Asia/Shanghai", pii=None)
    ingest_key: Mapped[str] = col(String(64), nullable=False, unique=True, pii=None)
    # The shop's own contact, shown to its customers: often the owner's own mobile or
    # mailbox, so declared personal (not a member's: the privacy notice leaves it out).
    contact_phone: Mapped[str | None] = col(String(32), pii=SHOP_CONTACT)
    contact_email: Mapped[str | None] = col(String(254), pii=SHOP_CONTACT)
    logo_url: Mapped[str | None] = col(String(500), pii=None)
    # [{"weekday": 0-6 (0 = Monday), "open": "HH:MM", "close": "HH:MM"}], in the merchant's
    # timezone; close before open runs past midnight. None: not given.
    business_hours: Mapped[list[dict[str, Any]] | None] = col(JSON, pii=None)


class AdminUser(CreatedAt, Base):
    __tablename__ = "admin_users"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = col(
        String(26), ForeignKey("merchants.id"), nullable=False, index=True, pii=None
    )
    email: Mapped[str] = col(String(254), nullable=False, unique=True, pii=OPERATOR_SIGN_IN)
    password_hash: Mapped[str] = col(
        String(200), nullable=False, pii=replace(OPERATOR_SIGN_IN, category=Category.CREDENTIAL)
    )
    role: Mapped[str] = col(String(16), nullable=False, pii=None)
    active: Mapped[bool] = col(Boolean, nullable=False, default=True, pii=None)


class Member(CreatedAt, Base):
    __tablename__ = "members"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = col(
        String(26), ForeignKey("merchants.id"), nullable=False, index=True, pii=None
    )
    status: Mapped[str] = col(String(16), nullable=False, default="active", pii=None)
    # Name, birthday and phone are encrypted at rest (growthloop.core.crypto).
    nickname: Mapped[str | None] = col(
        EncryptedText("members.nickname"),
        pii=Personal(
            Category.PROFILE, "greet the member in the mini-program", purpose_zh="在小程序中称呼您"
        ),
    )
    signup_platform: Mapped[str] = col(String(16), nullable=False, pii=None)
    signup_referrer_code: Mapped[str | None] = col(String(64), pii=INVITED_BY)
    signup_share_code: Mapped[str | None] = col(
        String(64),
        pii=Personal(
            Category.IDENTIFIER,
            "attribute the sign-up to a shared link",
            purpose_zh="记录您通过哪条分享链接注册",
        ),
    )
    # The member's own code for inviting friends (login with `referrer_code`), and who
    # invited them: the first binding wins.
    referral_code: Mapped[str | None] = col(
        String(16),
        pii=Personal(
            Category.IDENTIFIER, "let friends sign up by invitation", purpose_zh="让您邀请好友注册"
        ),
    )
    referred_by: Mapped[str | None] = col(String(26), pii=INVITED_BY)
    birthday: Mapped[date | None] = col(EncryptedDate("members.birthday"), pii=BIRTHDAY_GIFTS)
    # month * 100 + day of `birthday` (229 for 29 Feb): the birthday sweep finds today's
    # birthdays through an index, on any dialect, without reading the date itself. Kept in
    # clear: a month and day alone (one of 366) do not identify anyone; the year does.
    birthday_month_day: Mapped[int | None] = col(SmallInteger, pii=BIRTHDAY_GIFTS)
    # Keyed hash of a platform-verified phone number: recognises the same person at an
    # alliance partner without storing or comparing the number itself.
    phone_hash: Mapped[str | None] = col(
        String(64),
        pii=Personal(
            Category.CONTACT,
            "recognise the member at alliance partners",
            "consent",
            purpose_zh="在联盟商家处识别同一会员，用于积分互兑",
        ),
    )
    # The same verified number, encrypted: staff see it masked (138****1234).
    phone_encrypted: Mapped[str | None] = col(
        EncryptedText("members.phone_encrypted"),
        pii=Personal(
            Category.CONTACT,
            "reach the member about their orders",
            "consent",
            purpose_zh="就您的订单与您联系",
        ),
    )
    last_login_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        UniqueConstraint("merchant_id", "referral_code"),
        Index("ix_members_phone_hash", "merchant_id", "phone_hash"),
        Index("ix_members_referred_by", "merchant_id", "referred_by"),
        Index("ix_members_birthday", "birthday_month_day", "merchant_id"),
        # The members list pages through a merchant's members by id (newest first).
        Index("ix_members_merchant_id_id", "merchant_id", "id"),
    )


class PlatformAccount(MerchantOwned, CreatedAt, Base):
    """One login identity of a member on one end (WeChat/Alipay/Douyin/app/dev/import)."""

    __tablename__ = "platform_accounts"

    member_id: Mapped[str] = col(
        String(26), ForeignKey("members.id"), nullable=False, index=True, pii=None
    )
    platform: Mapped[str] = col(String(16), nullable=False, pii=None)
    app_id: Mapped[str] = col(String(64), nullable=False, default="", pii=None)
    openid: Mapped[str] = col(String(128), nullable=False, pii=LOGIN_ID)
    unionid: Mapped[str | None] = col(String(128), pii=LOGIN_ID)

    __table_args__ = (
        UniqueConstraint("merchant_id", "platform", "app_id", "openid"),
        Index("ix_platform_accounts_unionid", "merchant_id", "unionid"),
        # Imports and the members list find a member by an external id on any platform.
        Index("ix_platform_accounts_openid", "merchant_id", "openid"),
    )


class MemberActivityDay(Base):
    """Days (merchant timezone) a member was active: login days for tiers and retention."""

    __tablename__ = "member_activity_days"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    member_id: Mapped[str] = col(String(26), ForeignKey("members.id"), primary_key=True, pii=None)
    day: Mapped[date] = col(Date, primary_key=True, pii=None)


class BirthdayCelebration(Base):
    """A member's birthday was celebrated in this year: `member.birthday` at most once a year."""

    __tablename__ = "birthday_celebrations"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    member_id: Mapped[str] = col(String(26), ForeignKey("members.id"), primary_key=True, pii=None)
    year: Mapped[int] = col(Integer, primary_key=True, autoincrement=False, pii=None)
