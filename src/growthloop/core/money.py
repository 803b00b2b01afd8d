"""Money is an integer number of fen (分). Never a float.

Percentages are applied with explicit rounding so that every total is the exact sum
of its parts: the discounted part is rounded half-up, and the rest is what remains.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Fen = int
MAX_FEN = 10**10  # 1 亿元; larger amounts are input errors, not orders.

# Request-body types: strictly integers (no floats, no numeric strings).
FenAmount = Annotated[int, Field(strict=True, ge=0, le=MAX_FEN)]
PositiveFen = Annotated[int, Field(strict=True, ge=1, le=MAX_FEN)]


def percent_of(amount: Fen, percent: int) -> Fen:
    """`percent`% of `amount`, rounded half-up to the fen."""
    if amount < 0 or not 0 <= percent <= 100:
        raise ValueError("amount must be >= 0 and percent within 0..100")
    return (amount * percent + 50) // 100


def yuan(amount: Fen) -> str:
    """Human display, e.g. 1234 -> '12.34'."""
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    return f"{sign}{amount // 100}.{amount % 100:02d}"
