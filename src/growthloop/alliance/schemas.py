from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from growthloop.core.schemas import Strict

PartnershipStatus = Literal["pending", "active", "suspended", "ended"]

RatePart = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
Cap = Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)]


class RateIn(Strict):
    """`points` of the proposer's points are worth `partner_points` of the partner's, in both
    directions: the partner's points convert back at the inverse rate."""

    points: RatePart
    partner_points: RatePart


class PriceIn(Strict):
    """The exchange's source pays the target `fen` per `points` of the proposer's points that
    change hands (the proposer's side of the rate prices both directions)."""

    fen: Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
    points: RatePart


class PartnershipIn(Strict):
    partner_merchant_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    rate: RateIn
    daily_cap: Cap = Field(
        description="Points that may leave each merchant per day, per direction "
        "(counted in the source merchant's points, days in its timezone)."
    )
    member_daily_cap: Cap | None = Field(None, description="The same for one member.")
    settlement_price: PriceIn

    @model_validator(mode="after")
    def _check(self) -> PartnershipIn:
        if self.member_daily_cap is not None and self.member_daily_cap > self.daily_cap:
            raise ValueError("member_daily_cap cannot exceed daily_cap")
        return self


class PartnershipOut(BaseModel):
    id: str
    merchant_id: str = Field(description="The merchant that proposed the partnership.")
    partner_merchant_id: str
    counterparty_merchant_id: str = Field(description="The other merchant, seen by the caller.")
    status: PartnershipStatus
    rate: RateIn
    daily_cap: int
    member_daily_cap: int | None
    settlement_price: PriceIn
    suspended_by: str | None = Field(description="The merchant that suspended it.")
    accepted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PartnerOut(BaseModel):
    """An active partnership as the member sees it, rates from the member's side."""

    partnership_id: str
    partner_merchant_id: str
    partner_name: str
    points: int = Field(description="This many of your points ...")
    partner_points: int = Field(description="... become this many at the partner.")
    linked: bool = Field(description="The partner knows you (same account or verified phone).")
    daily_remaining: int = Field(description="Points the partnership still takes today.")
    member_daily_remaining: int | None = Field(description="Points you may still send today.")


class ExchangeIn(Strict):
    partnership_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    points: Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)] = Field(
        description="Points to send from this merchant; a multiple of the partnership's step."
    )


class ExchangeOut(BaseModel):
    id: str
    partnership_id: str
    direction: Literal["out", "in"] = Field(
        description="out: the caller's points left; in: points arrived for the caller."
    )
    merchant_id: str = Field(description="The merchant the points left.")
    partner_merchant_id: str = Field(description="The other merchant, seen by the caller.")
    points_out: int
    points_in: int
    balance_after: int | None = Field(
        None, description="The caller's points balance right after the exchange."
    )
    created_at: datetime


class SettlementEntryOut(BaseModel):
    id: str
    exchange_id: str
    payer_merchant_id: str
    payee_merchant_id: str
    points_out: int
    points_in: int
    amount: int = Field(description="fen")
    created_at: datetime


class SettlementTotalsOut(BaseModel):
    exchanges: int
    amount: int = Field(description="fen, all entries")
    payable: int = Field(description="fen the caller owes the partner")
    receivable: int = Field(description="fen the partner owes the caller")
    net: int = Field(description="receivable - payable")


class NetPositionOut(BaseModel):
    payer_merchant_id: str | None = Field(description="Who pays the net amount; None if even.")
    payee_merchant_id: str | None
    amount: int = Field(description="fen")


class SettlementOut(BaseModel):
    partnership_id: str
    merchant_id: str = Field(description="The caller's merchant.")
    counterparty_merchant_id: str
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    timezone: str = Field(description="Days are the caller's days.")
    entries: list[SettlementEntryOut]
    totals: SettlementTotalsOut
    net_position: NetPositionOut
