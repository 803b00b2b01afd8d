"""Request-body building blocks shared by the domains' schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints

Id = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]


def _utc_within_range(value: datetime) -> datetime:
    """Store UTC; years outside 2000..2100 are input errors (and overflow on conversion)."""
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None
    if not 2000 <= value.year <= 2100:
        raise ValueError("the time must fall within the years 2000..2100")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_utc_within_range)]


class Strict(BaseModel):
    """A request body: unknown fields are input errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")
