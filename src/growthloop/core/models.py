"""The declarative base, the UTC datetime type, personal-data declarations, and the
columns many tables share (`MerchantOwned`, `CreatedAt`).

Every column declares whether it holds personal information (`pii=Personal(...)`)
or not (`pii=None`) through `col()`. The compliance data map is built from these
declarations and a test fails on any column that does not make one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Integer, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column

from growthloop.core.ids import new_id


class Category(StrEnum):
    IDENTIFIER = "identifier"  # openid, unionid, external ids, device ids
    CONTACT = "contact"  # phone, email, address, name
    LOCATION = "location"
    FINANCIAL = "financial"  # payment account data
    SENSITIVE = "sensitive"  # PIPL 敏感个人信息: biometrics, minors, precise location, health
    PROFILE = "profile"  # nickname, avatar, birthday, gender
    CREDENTIAL = "credential"  # password hashes


class Retention(StrEnum):
    """How long a kind of personal data is kept; `zh` is what the privacy notice says."""

    UNTIL_DELETION = "until account deletion"
    WHILE_ACCOUNT = "while the account exists"  # staff accounts
    WHILE_MERCHANT = "while the merchant exists"
    ONE_DAY = "24 hours"
    EVENTS = "2 years, or until account deletion"
    DEVICE = "until account deletion, or 2 years after the last event"

    @property
    def zh(self) -> str:
        return _RETENTION_ZH[self]


_RETENTION_ZH = {
    Retention.UNTIL_DELETION: "至您注销账号",
    Retention.WHILE_ACCOUNT: "账号存续期间",
    Retention.WHILE_MERCHANT: "商家经营期间",
    Retention.ONE_DAY: "24 小时",
    Retention.EVENTS: "2 年，或至您注销账号",
    Retention.DEVICE: "至您注销账号，或最后一次访问后 2 年",
}


@dataclass(frozen=True)
class Personal:
    """What a column holds about a person, why (`purpose` for the code's readers,
    `purpose_zh` for the notice members read), on what legal basis and for how long."""

    category: Category
    purpose: str
    basis: str = "contract"  # PIPL art.13: contract | consent | legal_obligation
    retention: Retention = Retention.UNTIL_DELETION
    purpose_zh: str = field(kw_only=True)


NOT_DECLARED = object()


def col(*args: Any, pii: Personal | None, **kwargs: Any) -> MappedColumn[Any]:
    """`mapped_column` that records the column's personal-data declaration."""
    info = dict(kwargs.pop("info", {}))
    info["pii"] = pii
    return mapped_column(*args, info=info, **kwargs)


def pii_of(column: Any) -> Personal | object | None:
    declared: Personal | object | None = column.info.get("pii", NOT_DECLARED)
    return declared


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always hands back timezone-aware UTC datetimes (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; every time is stored timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def id_column(*, sort_order: int = 0) -> Mapped[str]:
    return col(String(26), primary_key=True, default=new_id, sort_order=sort_order, pii=None)


def merchant_column(*, sort_order: int = 0) -> Mapped[str]:
    return col(String(26), nullable=False, index=True, sort_order=sort_order, pii=None)


def created_column(*, sort_order: int = 0) -> Mapped[datetime]:
    return col(UTCDateTime(), nullable=False, sort_order=sort_order, pii=None)


# Mixins: the columns many tables share with one meaning, declared once. A table lists
# them before `Base` (`class Order(MerchantOwned, CreatedAt, Base)`); each table gets its
# own copy of the columns, and mypy sees their types on the table's class. A table's own
# columns keep their declared order; `sort_order` puts the mixins' `id` and `merchant_id`
# first and `created_at` last.


class MerchantOwned:
    """A merchant's row with an id of its own: `id` (a ULID, the primary key) and
    `merchant_id` (indexed: every query is scoped to one merchant)."""

    id: Mapped[str] = id_column(sort_order=-2)
    merchant_id: Mapped[str] = merchant_column(sort_order=-1)


class CreatedAt:
    """`created_at`: when the row was written."""

    created_at: Mapped[datetime] = created_column(sort_order=1)


class MemberTally:
    """A member's running count of one thing under a per-member limit: the limit is a
    guarded UPDATE on this row, so concurrent requests cannot both pass a read. The table
    adds the thing's id, the first part of its primary key."""

    member_id: Mapped[str] = col(String(26), primary_key=True, pii=None, sort_order=1)
    merchant_id: Mapped[str] = merchant_column(sort_order=1)
    count: Mapped[int] = col(Integer, nullable=False, default=0, pii=None, sort_order=1)
