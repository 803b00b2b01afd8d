"""Alliance rows as the API shows them, from the side of the merchant looking."""

from __future__ import annotations

from growthloop.alliance.models import Exchange, Partnership
from growthloop.alliance.schemas import ExchangeOut, PartnershipOut, PriceIn, RateIn
from growthloop.alliance.service import other_side


def partnership_out(p: Partnership, viewer_merchant_id: str) -> PartnershipOut:
    return PartnershipOut(
        id=p.id,
        merchant_id=p.merchant_id,
        partner_merchant_id=p.partner_merchant_id,
        counterparty_merchant_id=other_side(p, viewer_merchant_id),
        status=p.status,
        rate=RateIn(points=p.points, partner_points=p.partner_points),
        daily_cap=p.daily_cap,
        member_daily_cap=p.member_daily_cap,
        settlement_price=PriceIn(fen=p.price_fen, points=p.price_points),
        suspended_by=p.suspended_by,
        accepted_at=p.accepted_at,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def exchange_out(
    row: Exchange, viewer_merchant_id: str, balance_after: int | None = None
) -> ExchangeOut:
    out = row.merchant_id == viewer_merchant_id
    return ExchangeOut(
        id=row.id,
        partnership_id=row.partnership_id,
        direction="out" if out else "in",
        merchant_id=row.merchant_id,
        partner_merchant_id=row.target_merchant_id if out else row.merchant_id,
        points_out=row.points_out,
        points_in=row.points_in,
        balance_after=balance_after,
        created_at=row.created_at,
    )
