from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, HttpUrl, StringConstraints, model_validator

from growthloop.core.money import MAX_FEN, PositiveFen
from growthloop.core.schemas import LongName as Name
from growthloop.core.schemas import Name as CategoryName
from growthloop.core.schemas import ShortName as OptionName
from growthloop.core.schemas import Strict

Stock = Annotated[int, Field(strict=True, ge=0, le=10_000_000)]
Delta = Annotated[int, Field(strict=True, ge=-MAX_FEN, le=MAX_FEN)]


class OptionValueIn(Strict):
    name: OptionName
    price_delta: Delta = 0


class OptionGroupIn(Strict):
    """`values` are names (`["无糖", "全糖"]`) or `{name, price_delta}`; `price_deltas`
    maps value names to fen for the plain form. The first value is the default."""

    name: OptionName
    values: list[OptionName | OptionValueIn] = Field(min_length=1, max_length=30)
    price_deltas: dict[OptionName, Delta] = Field(default_factory=dict, max_length=30)
    required: bool = False

    def resolved(self) -> list[OptionValueIn]:
        out = []
        for value in self.values:
            if isinstance(value, str):
                value = OptionValueIn(name=value, price_delta=self.price_deltas.get(value, 0))
            out.append(value)
        return out

    @model_validator(mode="after")
    def _check(self) -> OptionGroupIn:
        names = [v.name for v in self.resolved()]
        if len(set(names)) != len(names):
            raise ValueError(f"option group {self.name!r} repeats a value")
        unknown = set(self.price_deltas) - set(names)
        if unknown:
            raise ValueError(f"price_deltas names values not in the group: {sorted(unknown)}")
        return self


def _check_groups(groups: list[OptionGroupIn] | None) -> None:
    if groups:
        names = [g.name for g in groups]
        if len(set(names)) != len(names):
            raise ValueError("option group names must be distinct")


class ProductIn(Strict):
    name: Name
    price: PositiveFen
    stock: Stock
    category: CategoryName | None = None
    options: list[OptionGroupIn] | None = Field(None, max_length=10)
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    image_urls: list[HttpUrl] = Field(default_factory=list, max_length=10)
    on_sale: bool = True
    sort: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] = 0

    @model_validator(mode="after")
    def _check(self) -> ProductIn:
        _check_groups(self.options)
        return self


class ProductPatch(Strict):
    name: Name | None = None
    price: PositiveFen | None = None
    stock: Stock | None = None
    category: CategoryName | None = None
    options: list[OptionGroupIn] | None = Field(None, max_length=10)
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    image_urls: list[HttpUrl] | None = Field(None, max_length=10)
    on_sale: bool | None = None
    sort: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] | None = None

    @model_validator(mode="after")
    def _check(self) -> ProductPatch:
        _check_groups(self.options)
        return self


class StockAdjustIn(Strict):
    delta: Annotated[int, Field(strict=True, ge=-10_000_000, le=10_000_000)]


class OptionGroupOut(BaseModel):
    name: str
    required: bool
    values: list[str]
    price_deltas: dict[str, int]


class ProductOut(BaseModel):
    id: str
    name: str
    price: int
    stock: int
    on_sale: bool
    category: str | None
    category_id: str | None
    options: list[OptionGroupOut]
    description: str
    image_urls: list[str]
    sort: int
    created_at: datetime
    updated_at: datetime


class CategoryIn(Strict):
    name: CategoryName
    sort: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] = 0


class CategoryOut(BaseModel):
    id: str
    name: str
    sort: int
