from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from growthloop.core.schemas import Id, LongName, Strict


class BroadcastIn(Strict):
    title: LongName
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    member_ids: list[Id] | None = Field(
        None, max_length=10_000, description="default: every active member"
    )


class BroadcastOut(BaseModel):
    id: str
    title: str
    sent: int = Field(description="members who got it")
    skipped_no_consent: int = Field(
        description="members left out: no marketing consent on record (refused or never given)"
    )
    created_at: datetime


class InboxMessageOut(BaseModel):
    id: str
    title: str
    body: str
    sent_at: datetime
    read_at: datetime | None
