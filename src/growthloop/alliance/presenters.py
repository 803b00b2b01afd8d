"""Alliance rows as the API shows them, from the side of the merchant looking."""

from __future__ import annotations

from growthloop.alliance.models import Exchange, Partnership
from growthloop.alliance.schemas import ExchangeOut, PartnershipOut, PriceIn, RateIn
from growthloop.alliance.service import other_side
from growthloop.core.presenting import from_row


def partnership_out(p: Partnership, viewer_merchant_id: str) -> PartnershipOut:
    return from_row(
        PartnershipOut,
        p,
        counterparty_merchant_id=other_side(p, viewer_merchant_id),
        rate=RateIn(points=p.points, partner_points=p.partner_points),
        settlement_price=PriceIn(fen=p.price_fen, points=p.price_points),
    )


def exchange_out(
    row: Exchange, viewer_merchant_id: str, balance_after: int | None = None
) -> ExchangeOut:
    out = row.merchant_id == viewer_merchant_id
    return from_row(
        ExchangeOut,
        row,
        direction="out" if out else "in",
        partner_merchant_id=row.target_merchant_id if out else row.merchant_id,
        balance_after=balance_after,
    )
