"""Consents carried over in bulk (the demo shop, a shop moving in whose members consented on
its old system): each decision goes into the ledger as a record with the member's current
state beside it, under today's policy version, as `record()` would write it one by one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance.models import ConsentRecord, ConsentState
from growthloop.compliance.policy import POLICY_VERSION
from growthloop.compliance.service import purpose_of
from growthloop.core.context import now
from growthloop.core.ids import new_id
from growthloop.core.sql import insert_chunked


@dataclass(frozen=True)
class Decision:
    member_id: str
    purpose: str
    granted: bool
    source: str  # how it was given: first_payment, member, import ...
    platform: str | None = None


async def import_decisions(
    session: AsyncSession, merchant_id: str, decisions: Sequence[Decision]
) -> int:
    """One record and the current state per decision; a member's purpose named twice, or
    an unknown purpose, is refused before anything is written."""
    seen: set[tuple[str, str]] = set()
    for d in decisions:
        purpose_of(d.purpose)  # UnknownPurpose
        if (d.member_id, d.purpose) in seen:
            raise ValueError(f"member {d.member_id}: {d.purpose} decided twice")
        seen.add((d.member_id, d.purpose))
    at = now(session)
    records, states = [], []
    for d in decisions:
        record_id = new_id(at)
        row = {
            "merchant_id": merchant_id,
            "member_id": d.member_id,
            "purpose": d.purpose,
            "granted": d.granted,
            "policy_version": POLICY_VERSION,
            "platform": d.platform,
        }
        records.append({**row, "id": record_id, "source": d.source, "created_at": at})
        states.append({**row, "record_id": record_id, "updated_at": at})
    await insert_chunked(session, ConsentRecord, records)
    await insert_chunked(session, ConsentState, states)
    return len(records)
