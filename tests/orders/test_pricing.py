"""Pricing properties: totals are integers and equal the sum of their parts; campaign prices,
tier, coupon and points apply in their documented order and scope."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthloop.core.runtime import Runtime
from growthloop.orders import pricing
from growthloop.promotions import service as promotions
from growthloop.promotions.models import CouponTemplate
from growthloop.promotions.service import CouponLine
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
    assert b.campaign_discount == 0 and b.regular_subtotal == b.subtotal
    assert b.payable == b.subtotal - b.tier_discount - b.coupon_discount - b.points_deduction
    assert b.discount == b.tier_discount + b.coupon_discount
    assert b.payable >= 1
    # The tier discount is the sum of per-line half-up roundings.
    expected_tier = sum((line.total * tier + 50) // 100 for line in lines)
    assert b.tier_discount == min(expected_tier, b.subtotal - 1)
    assert b.coupon_discount <= coupon and b.points_deduction <= points
    if expected_tier + coupon + points < b.subtotal:
        assert (b.coupon_discount, b.points_deduction) == (coupon, points)


@st.composite
def campaign_lines(draw: st.DrawFn) -> pricing.Line:
    """A line at its regular price, or at a campaign price of 1 fen up to the regular price."""
    regular = draw(st.integers(1, 10**6))
    delta = draw(st.integers(0, 10**4))
    kinds: list[pricing.CampaignKind | None] = [None, "flash_sale", "group_buy", "bargain"]
    kind = draw(st.sampled_from(kinds))
    base = regular if kind is None else draw(st.integers(1, regular))
    return pricing.Line(
        product_id=draw(st.sampled_from(["p1", "p2", "p3"])),
        name="茶",
        base_price=base,
        option_delta=delta,
        quantity=draw(st.integers(1, 99)),
        category_id=draw(st.sampled_from([None, "c1", "c2"])),
        campaign=None if kind is None else pricing.Campaign(kind, regular + delta),
    )


@st.composite
def templates(draw: st.DrawFn) -> CouponTemplate:
    """A coupon template as promotions stores it (never saved: only its terms are read)."""
    kind = draw(st.sampled_from(["amount_off", "percent_off"]))
    return CouponTemplate(
        kind=kind,
        value=draw(st.integers(1, 10**7) if kind == "amount_off" else st.integers(1, 99)),
        max_discount=draw(st.none() | st.integers(1, 10**6)) if kind == "percent_off" else None,
        product_ids=draw(st.lists(st.sampled_from(["p1", "p2", "p3"]), max_size=2)),
        category_ids=draw(st.lists(st.sampled_from(["c1", "c2"]), max_size=1)),
        stacks_with_campaigns=draw(st.booleans()),
    )


@given(
    lines=st.lists(campaign_lines(), min_size=1, max_size=20),
    tier=st.integers(0, 100),
    template=templates(),
    points=st.integers(0, 10**9),
)
def test_campaign_tier_coupon_points(
    lines: list[pricing.Line], tier: int, template: CouponTemplate, points: int
) -> None:
    """The full engine as checkout runs it: the coupon quoted (by promotions' own rules) on the
    lines after the tier discount, then points on what is left."""
    after = pricing.after_tier(lines, tier)
    coupon_lines = [
        CouponLine(line.product_id, line.category_id, amount, campaign=line.campaign is not None)
        for line, amount in zip(lines, after, strict=True)
    ]
    eligible = promotions.eligible_amount(template, coupon_lines)
    coupon = promotions.discount_for(template, eligible)
    b = pricing.price(lines, tier_percent=tier, coupon_discount=coupon, points_deduction=points)

    amounts = (b.subtotal, b.campaign_discount, b.tier_discount, b.coupon_discount)
    for value in (*amounts, b.points_deduction, b.payable, *after, eligible, coupon):
        assert type(value) is int and value >= 0
    # Every step in order, summing exactly.
    campaigns = [(line, line.campaign) for line in lines if line.campaign]
    regular_lines = [line for line in lines if not line.campaign]
    assert b.regular_subtotal == sum(line.regular_total for line in lines)
    assert b.campaign_discount == sum(
        (campaign.regular_price - line.unit_price) * line.quantity for line, campaign in campaigns
    )
    assert (
        b.subtotal == sum(line.total for line in lines) == b.regular_subtotal - b.campaign_discount
    )
    assert b.payable == b.subtotal - b.discount - b.points_deduction
    assert b.payable == (
        b.regular_subtotal
        - b.campaign_discount
        - b.tier_discount
        - b.coupon_discount
        - b.points_deduction
    )
    assert b.discount == b.tier_discount + b.coupon_discount
    assert b.payable >= 1
    # No member discount on a campaign price: the tier takes from regular lines only.
    for line, amount in zip(lines, after, strict=True):
        assert amount == line.total if line.campaign else amount <= line.total
    expected_tier = sum((line.total * tier + 50) // 100 for line in regular_lines)
    assert b.tier_discount == min(expected_tier, b.subtotal - 1)
    # The coupon never takes from campaign lines unless its template stacks with campaigns.
    in_scope = [
        amount
        for line, amount in zip(lines, after, strict=True)
        if (template.stacks_with_campaigns or not line.campaign)
        and (
            not (template.product_ids or template.category_ids)
            or line.product_id in template.product_ids
            or line.category_id in template.category_ids
        )
    ]
    assert eligible == sum(in_scope) and b.coupon_discount <= coupon <= eligible
    if not template.stacks_with_campaigns:
        regular_after = sum(a for line, a in zip(lines, after, strict=True) if not line.campaign)
        assert b.coupon_discount <= regular_after
        assert b.subtotal - b.tier_discount - b.coupon_discount >= sum(
            line.total for line, _ in campaigns
        )
        if not regular_lines:
            assert eligible == 0 and coupon == 0
    assert b.points_deduction <= points


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
