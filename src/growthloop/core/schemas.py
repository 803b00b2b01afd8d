"""Request-body building blocks shared by the domains' schemas."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

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


# Line breaks and tabs are text; every other control character (C0, DEL, C1) and lone
# surrogates are not. NUL in particular cannot be stored by PostgreSQL, and a lone surrogate
# cannot be encoded as UTF-8 by any driver: both would fail as a 500 after partial work.
_CONTROLS = "\x00-\x1f\x7f-\x9f\ud800-\udfff"
_ANY_CONTROL = re.compile(f"[{_CONTROLS}]")
_CONTROL_IN_TEXT = re.compile("(?![\t\n\r])" + f"[{_CONTROLS}]")


def find_control_character(value: str, *, text: bool = False) -> tuple[int, str] | None:
    """The first control character (or lone surrogate) in `value`: (position, char). With
    `text`, tabs and line breaks are allowed."""
    found = (_CONTROL_IN_TEXT if text else _ANY_CONTROL).search(value)
    return None if found is None else (found.start(), found.group())


def _refuse_controls(value: str, *, text: bool) -> str:
    found = find_control_character(value, text=text)
    if found is not None:
        position, char = found
        raise PydanticCustomError(
            "control_character",
            "control character {char} at position {position} is not allowed",
            {"char": f"U+{ord(char):04X}", "position": position},
        )
    return value


def _walk_texts(value: Any) -> None:
    """Every string inside a field: list items, dict keys and values, at any depth."""
    if isinstance(value, str):
        _refuse_controls(value, text=True)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk_texts(key)
            _walk_texts(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _walk_texts(item)
    elif isinstance(value, BaseModel) and not isinstance(value, Strict):
        _walk_texts(value.__dict__)  # a Strict one has checked itself


def single_line(value: str) -> str:
    """A name or label: no control characters at all, line breaks and tabs included."""
    return _refuse_controls(value, text=False)


# Names and labels shown to members and operators (products, coupons, campaigns, tiers):
# one line, trimmed, never empty.
def _label(max_length: int) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


Name = Annotated[str, _label(50), AfterValidator(single_line)]
LongName = Annotated[str, _label(100), AfterValidator(single_line)]
ShortName = Annotated[str, _label(32), AfterValidator(single_line)]


class Strict(BaseModel):
    """A request body: unknown fields are input errors, not silently dropped, and no text in
    it, at any depth, carries a control character (see `_CONTROLS`): one rule for every body."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        _walk_texts(value)
        return value
