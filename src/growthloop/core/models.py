"""The declarative base, the UTC datetime type, and personal-data declarations.

Every column declares whether it holds personal information (`pii=Personal(...)`)
or not (`pii=None`) through `col()`. The compliance data map is built from these
declarations and a test fails on any column that does not make one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, MetaData, String, TypeDecorator
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


@dataclass(frozen=True)
class Personal:
    """What a column holds about a person, why, on what legal basis and for how long."""

    category: Category
    purpose: str
    basis: str = "contract"  # PIPL art.13: contract | consent | legal_obligation
    retention: str = "until account deletion"


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


def id_column() -> Mapped[str]:
    return col(String(26), primary_key=True, default=new_id, pii=None)


def merchant_column() -> Mapped[str]:
    return col(String(26), nullable=False, index=True, pii=None)


def created_column() -> Mapped[datetime]:
    return col(UTCDateTime(), nullable=False, pii=None)
