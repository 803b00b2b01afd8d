"""The columns every campaign kind's campaign row has (flash sales, group buys, bargains,
invite rules, lotteries), declared once; `campaigns.windows` reads them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped

from growthloop.core.models import CreatedAt, MerchantOwned, UTCDateTime, col


class CampaignColumns(MerchantOwned, CreatedAt):
    """A campaign: its name, and its window [`starts_at`, `ends_at`) (an open end when
    `ends_at` is None) that an operator may close early (`ended_early_at`)."""

    name: Mapped[str] = col(String(50), nullable=False, pii=None)
    starts_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    ends_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    ended_early_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
