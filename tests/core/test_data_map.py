"""Every column declares whether it holds personal information (the compliance data map)."""

from __future__ import annotations

from growthloop.all_models import metadata
from growthloop.core.models import NOT_DECLARED, Personal, pii_of


def test_every_column_declares_personal_data() -> None:
    undeclared = [
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if pii_of(column) is NOT_DECLARED
    ]
    assert undeclared == [], f"declare pii=Personal(...) or pii=None on: {undeclared}"


def test_identifiers_are_declared_personal() -> None:
    """Columns that obviously hold a person's data must not be declared pii=None."""
    suspicious = (
        "openid",
        "unionid",
        "phone",
        "email",
        "nickname",
        "password",
        "address",
        "birthday",
    )
    wrong = [
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if any(word in column.name for word in suspicious)
        and not isinstance(pii_of(column), Personal)
    ]
    assert wrong == []


def test_every_event_store_column_is_declared() -> None:
    from growthloop.analytics.rows import COLUMNS, EVENT_DATA_MAP

    assert [name for name, _, _ in COLUMNS] == list(EVENT_DATA_MAP)
