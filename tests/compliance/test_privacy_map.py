"""Every table that can hold a member's data is answered for by a privacy handler: it is
in the member's data export and in the erasure of their account. A domain that adds such a
table without registering it fails here."""

from __future__ import annotations

from growthloop.all_models import metadata
from growthloop.core.models import Personal, pii_of
from growthloop.core.runtime import Runtime

# Columns that name a member (whatever the table calls them).
MEMBER_COLUMNS = {
    "member_id",
    "promoter_id",
    "invitee_id",
    "inviter_id",
    "sharer_id",
    "visitor_member_id",
    "target_member_id",
    "owner_member_id",
    "leader_member_id",
    "helper_member_id",
    "referred_by",
}
# Tables with personal columns that are not any member's: why each is out of the handlers.
NOT_MEMBERS = {
    "admin_users": "the merchant's staff accounts, managed by the owner",
    "merchants": "the shop's own contact details, managed by the owner",
}


def _holds_member_data(table: object) -> bool:
    columns = list(table.columns)  # type: ignore[attr-defined]
    return any(c.name in MEMBER_COLUMNS for c in columns) or any(
        isinstance(pii_of(c), Personal) for c in columns
    )


async def test_every_member_table_has_a_privacy_handler(rt: Runtime) -> None:
    claimed = rt.privacy.tables()
    unclaimed = sorted(
        t.name
        for t in metadata.sorted_tables
        if _holds_member_data(t) and t.name not in claimed and t.name not in NOT_MEMBERS
    )
    assert unclaimed == [], f"register a PrivacyHandler (export + erase) for: {unclaimed}"
    unknown = sorted(claimed - {t.name for t in metadata.sorted_tables})
    assert unknown == [], f"handlers claim tables that do not exist: {unknown}"


async def test_handlers_say_what_they_keep(rt: Runtime) -> None:
    sections = [h.section for h in rt.privacy.handlers]
    assert len(sections) == len(set(sections))
    assert "events" in rt.privacy.stores
