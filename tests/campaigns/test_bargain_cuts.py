"""The cut rule, proved over any prices and helper counts."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from growthloop.campaigns.bargains.cuts import cut_range, next_cut


@st.composite
def bargains(draw: st.DrawFn) -> tuple[int, int, int]:
    helpers = draw(st.integers(min_value=1, max_value=100))
    gap = draw(st.integers(min_value=helpers, max_value=10_000_000))
    seed = draw(st.integers(min_value=0, max_value=2**32))
    return gap, helpers, seed


@settings(max_examples=300, deadline=None)
@given(bargains())
def test_the_floor_is_reached_exactly_at_the_last_help(case: tuple[int, int, int]) -> None:
    gap, helpers, seed = case
    rng = random.Random(seed)
    remaining = gap
    for left in range(helpers, 0, -1):
        low, high = cut_range(remaining, left)
        cut = next_cut(remaining, left, rng)
        assert 1 <= low <= cut <= high
        # Never so much that a later helper would have nothing to cut.
        assert remaining - cut >= left - 1
        if left > 1:
            # 20-50 % of what remains, unless that would leave a later helper without 1 fen.
            assert cut <= max(1, remaining // 2)
            if remaining - (left - 1) >= -(-remaining // 5):
                assert cut * 5 >= remaining
        remaining -= cut
    assert remaining == 0


def test_the_last_helper_cuts_the_rest_and_bad_states_are_refused() -> None:
    assert cut_range(37, 1) == (37, 37)
    assert cut_range(100, 2) == (20, 50)
    assert cut_range(3, 3) == (1, 1)
    for remaining, left in ((0, 1), (2, 3), (5, 0)):
        try:
            cut_range(remaining, left)
        except ValueError:
            continue
        raise AssertionError((remaining, left))
