"""Compliance's rows as the API shows them."""

from __future__ import annotations

from growthloop.compliance.models import ConsentRecord, DeletionRequest
from growthloop.compliance.policy import POLICY_VERSION, PURPOSES
from growthloop.compliance.schemas import (
    AuditEntryOut,
    ConsentOut,
    ConsentRecordOut,
    ConsentsOut,
    DeletionOut,
    DeletionQueueItem,
    PolicyOut,
    PurposeOut,
)
from growthloop.compliance.service import Consents
from growthloop.core.audit import AuditEntry
from growthloop.core.presenting import from_row


def policy_out() -> PolicyOut:
    """The current privacy policy and its purposes."""
    return PolicyOut(
        version=POLICY_VERSION,
        purposes=[PurposeOut.model_validate(p, from_attributes=True) for p in PURPOSES],
    )


def consents_out(consents: Consents) -> ConsentsOut:
    """Every purpose: essential ones always granted, undecided ones null."""
    out: dict[str, ConsentOut] = {}
    for p in PURPOSES:
        state = consents.states.get(p.key)
        if p.required:
            out[p.key] = ConsentOut(
                granted=True,
                required=True,
                policy_version=POLICY_VERSION,
                recorded_at=None,
                platform=None,
            )
        elif state is None:
            out[p.key] = ConsentOut(
                granted=None, required=False, policy_version=None, recorded_at=None, platform=None
            )
        else:
            out[p.key] = ConsentOut(
                granted=state.granted,
                required=False,
                policy_version=state.policy_version,
                recorded_at=state.updated_at,
                platform=state.platform,
            )
    return ConsentsOut(policy_version=POLICY_VERSION, consents=out, to_ask=consents.to_ask)


def consent_record_out(record: ConsentRecord) -> ConsentRecordOut:
    return ConsentRecordOut.model_validate(record, from_attributes=True)


def deletion_out(r: DeletionRequest) -> DeletionOut:
    return from_row(DeletionOut, r, request_id=r.id)


def deletion_queue_item(r: DeletionRequest) -> DeletionQueueItem:
    return from_row(DeletionQueueItem, r, request_id=r.id)


def audit_entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut.model_validate(entry, from_attributes=True)
