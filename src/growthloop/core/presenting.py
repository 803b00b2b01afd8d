"""Response schemas filled from rows: the presenters' shared step."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

Out = TypeVar("Out", bound=BaseModel)


def from_row(out: type[Out], row: object, /, **fields: Any) -> Out:
    """`out` with the `fields` given (what a presenter derives, renames or hides) and every
    other field from the row's attribute of the same name. A row that has every field as an
    attribute needs none of this: `out.model_validate(row, from_attributes=True)`."""
    unknown = fields.keys() - out.model_fields.keys()
    if unknown:
        raise TypeError(f"{out.__name__} has no field {', '.join(sorted(unknown))}")
    return out(**{n: fields[n] if n in fields else getattr(row, n) for n in out.model_fields})
