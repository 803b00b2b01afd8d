"""Share codes as the API shows them."""

from __future__ import annotations

from growthloop.campaigns.shares.models import ShareCode
from growthloop.campaigns.shares.schemas import MyShareOut, ShareOut
from growthloop.core.presenting import from_row


def share_out(s: ShareCode) -> ShareOut:
    return from_row(ShareOut, s, scene=f"s={s.code}", path=f"/pages/share/index?s={s.code}")


def my_share_out(s: ShareCode, counts: dict[tuple[str, str], int]) -> MyShareOut:
    """The share with what it brought (`counts`: visits per code and kind)."""
    return MyShareOut(
        **share_out(s).model_dump(),
        opens=counts.get((s.code, "open"), 0),
        registrations=counts.get((s.code, "register"), 0),
        purchases=counts.get((s.code, "purchase"), 0),
    )
