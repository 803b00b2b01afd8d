"""How much one helper cuts. Pure integer arithmetic on fen, so it can be proved.

With `remaining` fen between the price and the floor and `helpers_left` helpers to come
(this one included): the last helper cuts exactly what remains; any other cuts a random
20-50 % of it, but never so much that a later helper would have less than 1 fen to cut.
So the floor is reached exactly at the `helpers_needed`-th help, and never passed.
"""

from __future__ import annotations

import random

MIN_SHARE = (1, 5)  # 20 %
MAX_SHARE = (1, 2)  # 50 %


def cut_range(remaining: int, helpers_left: int) -> tuple[int, int]:
    """The inclusive range this helper's cut is drawn from."""
    if helpers_left < 1 or remaining < helpers_left:
        raise ValueError("each helper still to come must be able to cut at least 1 fen")
    if helpers_left == 1:
        return remaining, remaining
    cap = remaining - (helpers_left - 1)  # 1 fen kept for each later helper
    low = -(-remaining * MIN_SHARE[0] // MIN_SHARE[1])  # ceil(20 %)
    high = remaining * MAX_SHARE[0] // MAX_SHARE[1]  # floor(50 %)
    high = max(1, min(high, cap))
    low = max(1, min(low, high))
    return low, high


def next_cut(remaining: int, helpers_left: int, rng: random.Random | None = None) -> int:
    low, high = cut_range(remaining, helpers_left)
    return (rng or _rng).randint(low, high)


_rng = random.SystemRandom()
