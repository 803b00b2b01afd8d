from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StringConstraints

PurposeKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# `PUT /v1/me/consents`: {purpose: granted, ...}; purposes left out keep their state.
ConsentChoices = Annotated[
    dict[PurposeKey, StrictBool],
    Field(description="Purpose -> granted; purposes left out are unchanged.", max_length=32),
]


class PurposeOut(BaseModel):
    key: str
    label: str
    description: str
    required: bool = Field(description="Always on (essential); a refusal is not accepted.")
    sensitive: bool = Field(description="Sensitive personal information (PIPL art.28).")
    separate: bool = Field(description="Needs separate consent: grant it on its own.")
    since: str = Field(description="The policy version that introduced this purpose.")


class PolicyOut(BaseModel):
    version: str
    purposes: list[PurposeOut]


class ConsentOut(BaseModel):
    granted: bool | None = Field(description="null: the member has not decided yet.")
    required: bool
    policy_version: str | None = Field(description="The policy version of the decision.")
    recorded_at: datetime | None
    platform: str | None


class ConsentsOut(BaseModel):
    policy_version: str = Field(description="The current policy version.")
    consents: dict[str, ConsentOut]
    to_ask: list[str] = Field(
        default_factory=list,
        description="Purposes to ask the member about now: never decided, or changed by a "
        "policy version after the member's decision. A refusal is not asked again until "
        "the policy changes that purpose.",
    )


class ConsentsUpdateOut(ConsentsOut):
    changed: list[str] = Field(description="Purposes whose state this request changed.")


class ConsentRecordOut(BaseModel):
    id: str
    purpose: str
    granted: bool
    policy_version: str
    platform: str | None
    source: str
    created_at: datetime


class DeletionOut(BaseModel):
    request_id: str
    status: str = Field(description="pending | cancelled | done")
    requested_at: datetime
    scheduled_for: datetime = Field(description="when it is carried out unless cancelled")
    deadline: datetime = Field(description="15 working days after the request")
    cancelled_at: datetime | None = None
    done_at: datetime | None = None


class DeletionQueueItem(DeletionOut):
    id: str = Field(description="the same as request_id")
    member_id: str
    receipt: dict[str, Any] | None = Field(
        None, description="what was erased and what was kept, without personal data"
    )


class AuditEntryOut(BaseModel):
    id: str
    actor_type: str
    actor_id: str | None
    action: str
    subject_type: str
    subject_id: str
    member_id: str | None
    details: dict[str, Any]
    created_at: datetime
