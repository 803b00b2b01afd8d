"""Choosing a prize by weight, and what is left of a lottery's prizes. Pure integer
arithmetic, so the odds can be checked exactly.

`pick` returns entry i with probability weight_i / sum(weights): one uniform integer in
[0, total) is walked through the cumulative weights. The server's RNG is the operating
system's (`random.SystemRandom`): a member cannot predict or replay a draw.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from growthloop.campaigns.lotteries.models import LotteryPrize

T = TypeVar("T")

_rng = random.SystemRandom()


def pick(entries: Sequence[tuple[T, int]], rng: random.Random | None = None) -> T:
    """One of `entries` (value, weight), chosen with probability weight / total weight."""
    if not entries:
        raise ValueError("nothing to pick from")
    if any(weight < 1 for _, weight in entries):
        raise ValueError("every weight is a positive integer")
    point = (rng or _rng).randrange(sum(weight for _, weight in entries))
    for value, weight in entries:
        if point < weight:
            return value
        point -= weight
    raise AssertionError("unreachable: point < total")


def odds(weights: Sequence[int]) -> list[float]:
    """Each weight's share of the total, rounded to 6 places (0 for a total of 0)."""
    total = sum(weights)
    return [round(w / total, 6) if total else 0.0 for w in weights]


# ---- a lottery's prizes ---------------------------------------------------------------


def stock_left(prize: LotteryPrize) -> int | None:
    """Units left to give; None for the `none` prize (unlimited)."""
    return None if prize.stock is None else prize.stock - prize.given


def available(prize: LotteryPrize) -> bool:
    left = stock_left(prize)
    return left is None or left > 0


def exhausted(prizes: Sequence[LotteryPrize]) -> bool:
    """Every real prize given out."""
    return not any(p.kind != "none" and available(p) for p in prizes)


def prize_odds(prizes: Sequence[LotteryPrize]) -> list[float]:
    """Each prize's chance now: its weight among the prizes with stock left."""
    return odds([p.weight if available(p) else 0 for p in prizes])
