"""Pricing properties: totals are integers and equal the sum of their parts."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthloop.core.runtime import Runtime
from growthloop.orders import pricing
from tests.helpers import make_shop

lines = st.lists(
    st.builds(
        pricing.Line,
        product_id=st.just("p"),
        name=st.just("茶"),
        base_price=st.integers(1, 10**6),
        option_delta=st.integers(0, 10**4),
        quantity=st.integers(1, 99),
    ),
    min_size=1,
    max_size=30,
)


@given(
    lines=lines,
    tier=st.integers(0, 50),
    coupon=st.integers(0, 10**9),
    points=st.integers(0, 10**9),
)
def test_breakdown_sums_exactly(
    lines: list[pricing.Line], tier: int, coupon: int, points: int
) -> None:
    b = pricing.price(lines, tier_percent=tier, coupon_discount=coupon, points_deduction=points)
    for value in (b.subtotal, b.tier_discount, b.coupon_discount, b.points_deduction, b.payable):
        assert isinstance(value, int) and value >= 0
    assert b.subtotal == sum(line.unit_price * line.quantity for line in lines)
    assert b.payable == b.subtotal - b.tier_discount - b.coupon_discount - b.points_deduction
    assert b.discount == b.tier_discount + b.coupon_discount
    assert b.payable >= 1
    # The tier discount is the sum of per-line half-up roundings.
    expected_tier = sum((line.total * tier + 50) // 100 for line in lines)
    assert b.tier_discount == min(expected_tier, b.subtotal - 1)
    assert b.coupon_discount <= coupon and b.points_deduction <= points
    if expected_tier + coupon + points < b.subtotal:
        assert (b.coupon_discount, b.points_deduction) == (coupon, points)


SIZES = ["中杯", "大杯", "超大杯"]
TOPPINGS = ["不加", "珍珠", "芋圆"]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    price=st.integers(1, 100_000),
    deltas=st.tuples(st.integers(0, 1000), st.integers(0, 1000)),
    picks=st.lists(
        st.tuples(st.integers(1, 99), st.sampled_from(SIZES), st.sampled_from(TOPPINGS)),
        min_size=1,
        max_size=5,
    ),
)
async def test_api_order_totals_are_sums_of_lines(
    client: httpx.AsyncClient,
    rt: Runtime,
    price: int,
    deltas: tuple[int, int],
    picks: list[tuple[int, str, str]],
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(
        price=price,
        stock=10_000,
        options=[
            {
                "name": "杯型",
                "values": SIZES,
                "price_deltas": {"大杯": deltas[0], "超大杯": deltas[1]},
            },
            {"name": "加料", "values": TOPPINGS, "price_deltas": {"珍珠": 200, "芋圆": 300}},
        ],
    )
    member = await shop.member()
    items = [
        {"product_id": product["id"], "quantity": q, "options": {"杯型": size, "加料": topping}}
        for q, size, topping in picks
    ]
    r = await client.post("/v1/orders", json={"items": items}, headers=member)
    assert r.status_code == 201, r.text
    order = r.json()
    size_delta = {"中杯": 0, "大杯": deltas[0], "超大杯": deltas[1]}
    topping_delta = {"不加": 0, "珍珠": 200, "芋圆": 300}
    for line, (q, size, topping) in zip(order["items"], picks, strict=True):
        assert line["unit_price"] == price + size_delta[size] + topping_delta[topping]
        assert line["line_total"] == line["unit_price"] * q
    assert order["subtotal"] == sum(line["line_total"] for line in order["items"])
    assert order["payable"] == order["subtotal"] - order["discount"] - order["points_deduction"]
