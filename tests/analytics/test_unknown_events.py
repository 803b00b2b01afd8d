"""A query naming an event that was never seen gets its normal answer plus a warning, so a
typo (`order_paid`) does not pass for a quiet day. Never seen: not a business event and no
event of that name stored for the merchant (another merchant's events do not count)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from growthloop.analytics.rows import EventRow
from growthloop.core.ids import new_id
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, make_shop

RANGE = {"from": "2026-03-01", "to": "2026-03-07"}
AT = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)


async def _store(shop: Shop, *events: str) -> None:
    """The events, a minute apart, by one anonymous device."""
    await shop.rt.analytics.store.append(
        [
            EventRow(
                merchant_id=shop.merchant_id,
                uuid=new_id(),
                event=event,
                distinct_id="d1",
                member_id=None,
                time=AT + timedelta(minutes=i),
                received_at=AT,
                platform="wechat",
                page=None,
                share_code=None,
                channel=None,
                amount=0,
                properties="{}",
            )
            for i, event in enumerate(events)
        ]
    )


def _unknown(event: str, hint: str = "") -> dict[str, Any]:
    return {
        "code": "unknown_event",
        "event": event,
        "message": f"No event named {event!r} has been recorded for this merchant, so it counts "
        f"nothing.{hint} The business events are listed in docs/events.md.",
    }


async def _post(shop: Shop, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await shop.client.post(
        f"/v1/admin/analytics/{path}", json={**body, **RANGE}, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_trends_warn_of_an_unknown_event(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    other = await make_shop(client, rt, "别家")
    await _store(shop, "page_view")
    await _store(other, "secret_event")

    seen = await _post(shop, "trends", {"event": "page_view"})
    assert seen["warnings"] == []
    assert seen["series"][0]["total"] == 1
    # A business event that has not happened yet is a true zero: no warning.
    quiet = await _post(shop, "trends", {"event": "order.refunded"})
    assert quiet == {
        "event": "order.refunded",
        "math": "count",
        "interval": "day",
        "series": [],
        "warnings": [],
    }
    typo = await _post(shop, "trends", {"event": "order_paid"})
    assert typo == {
        "event": "order_paid",
        "math": "count",
        "interval": "day",
        "series": [],
        "warnings": [_unknown("order_paid", " Did you mean 'order.paid'?")],
    }
    # Another merchant's events are not this merchant's.
    foreign = await _post(shop, "trends", {"event": "secret_event"})
    assert foreign["warnings"] == [_unknown("secret_event")]
    # Imported orders are recorded as order.paid.
    imported = await _post(shop, "trends", {"event": "order.imported"})
    assert imported["warnings"] == [
        _unknown(
            "order.imported",
            " Imported orders are recorded as 'order.paid' with properties.source = 'import'.",
        )
    ]


async def test_funnel_and_retention_warn_once_per_unknown_event(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await _store(shop, "page_view", "add_to_cart")
    funnel = await _post(
        shop,
        "funnel",
        {
            "steps": [
                {"event": "page_view"},
                {"event": "add_to_cart"},
                {"event": "checkout"},
                {"event": "checkout"},
                {"event": "order.paid"},
            ],
            "window_hours": 24,
        },
    )
    assert [s["count"] for s in funnel["steps"]] == [1, 1, 0, 0, 0]
    assert funnel["warnings"] == [_unknown("checkout")]

    retention = await _post(
        shop,
        "retention",
        {"start_event": "$pageview", "return_event": "Order.Paid", "period": "day", "periods": 2},
    )
    assert [c["size"] for c in retention["cohorts"]] == [0] * 7
    assert retention["warnings"] == [
        _unknown("$pageview"),
        _unknown("Order.Paid", " Did you mean 'order.paid'?"),
    ]
    known = await _post(
        shop,
        "retention",
        {"start_event": "page_view", "return_event": "order.paid", "period": "day", "periods": 2},
    )
    assert known["warnings"] == []


async def test_the_warnings_are_in_the_openapi_schema(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    warning = schemas["QueryWarning"]
    assert sorted(warning["properties"]) == ["code", "event", "message"]
    assert warning["properties"]["code"]["const"] == "unknown_event"
    for name in ("TrendsOut", "FunnelOut", "RetentionOut"):
        field = schemas[name]["properties"]["warnings"]
        assert field["items"] == {"$ref": "#/components/schemas/QueryWarning"}, name
        assert "warnings" in schemas[name]["required"], name
