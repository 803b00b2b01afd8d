"""The privacy policy and the consent ledger: append-only, one entry per change of mind."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from growthloop.compliance import presenters
from growthloop.compliance import service as compliance
from growthloop.compliance.events import ConsentChanged
from growthloop.compliance.models import ConsentRecord
from growthloop.core.audit import AuditEntry
from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.helpers import assert_error, make_shop
from tests.identity.support import committed_events, login

PURPOSES = [
    "essential",
    "analytics",
    "personalisation",
    "marketing",
    "location",
    "phone",
    "guardian",
    "membership",
]


async def _consents(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.get("/v1/me/consents", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _put(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.put("/v1/me/consents", json=body, headers=headers)


async def _history(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await client.get("/v1/me/consents/history", params={"limit": 100}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def _ledger(rt: Runtime, member_id: str) -> list[tuple[Any, ...]]:
    """Every column of the member's ledger rows, straight from the table."""
    async with rt.db.unit_of_work(write=False) as uow:
        rows = await uow.session.scalars(
            select(ConsentRecord).where(ConsentRecord.member_id == member_id)
        )
        return sorted(
            (
                r.id,
                r.merchant_id,
                r.purpose,
                r.granted,
                r.policy_version,
                r.platform,
                r.source,
                r.created_at,
            )
            for r in rows
        )


async def test_the_policy_is_public(client: httpx.AsyncClient, rt: Runtime) -> None:
    r = await client.get("/v1/privacy/policy")
    assert r.status_code == 200, r.text
    policy = r.json()
    assert policy["version"] == presenters.policy_out().version
    assert [p["key"] for p in policy["purposes"]] == PURPOSES
    by_key = {p["key"]: p for p in policy["purposes"]}
    assert [k for k, p in by_key.items() if p["required"]] == ["essential"]
    assert [k for k, p in by_key.items() if p["sensitive"]] == ["location", "guardian"]
    assert [k for k, p in by_key.items() if p["separate"]] == ["location", "guardian"]
    assert by_key["membership"]["label"] == "会员计划（支付即会员）"
    assert all(p["label"] and p["description"] for p in policy["purposes"])
    assert all(p["since"] == policy["version"] for p in policy["purposes"])


async def test_the_ledger_records_each_change_once(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    member = await login(client, shop.merchant_id, "alice")
    headers, member_id = member["headers"], member["member_id"]
    version = presenters.policy_out().version

    state = await _consents(client, headers)
    assert state["policy_version"] == version
    assert list(state["consents"]) == PURPOSES
    assert state["consents"]["essential"] == {
        "granted": True,
        "required": True,
        "policy_version": version,
        "recorded_at": None,
        "platform": None,
    }
    assert all(state["consents"][p]["granted"] is None for p in PURPOSES[1:])

    first_time = clock.now()
    with committed_events(rt, ConsentChanged) as changes:
        r = await _put(client, headers, {"marketing": True, "analytics": True, "essential": True})
        assert r.status_code == 200, r.text
        assert r.json()["changed"] == ["analytics", "marketing"]
        analytics = r.json()["consents"]["analytics"]
        assert analytics == {
            "granted": True,
            "required": False,
            "policy_version": version,
            "recorded_at": first_time.isoformat().replace("+00:00", "Z"),
            "platform": "dev",
        }
        # The same decisions again change nothing and append nothing.
        r = await _put(client, headers, {"marketing": True, "analytics": True})
        assert r.status_code == 200 and r.json()["changed"] == []
        first_rows = await _ledger(rt, member_id)
        assert len(first_rows) == 2

        clock.advance(days=3)
        r = await _put(client, headers, {"marketing": False, "analytics": True, "phone": False})
        assert r.json()["changed"] == ["marketing", "phone"]
    assert [(e.member_id, e.payload) for e in changes] == [
        (member_id, {"purpose": p, "granted": g, "policy_version": version})
        for p, g in [
            ("analytics", True),
            ("marketing", True),
            ("marketing", False),
            ("phone", False),
        ]
    ]

    # Append-only: the earlier rows are untouched, the change is a new row.
    rows = await _ledger(rt, member_id)
    assert len(rows) == 4 and set(first_rows) <= set(rows)
    history = await _history(client, headers)
    assert [(h["purpose"], h["granted"], h["source"]) for h in history] == [
        ("phone", False, "member"),
        ("marketing", False, "member"),
        ("marketing", True, "member"),
        ("analytics", True, "member"),
    ]
    state = (await _consents(client, headers))["consents"]
    assert state["analytics"]["recorded_at"] == analytics["recorded_at"]
    assert (state["marketing"]["granted"], state["phone"]["granted"]) == (False, False)
    assert state["personalisation"]["granted"] is None  # never asked: not a refusal

    async with rt.db.unit_of_work() as uow:
        s = uow.session
        checks = {
            p: await compliance.has_consent(s, shop.merchant_id, member_id, p) for p in PURPOSES
        }
        assert checks == {
            "essential": True,
            "analytics": True,
            "personalisation": False,
            "marketing": False,
            "location": False,
            "phone": False,
            "guardian": False,
            "membership": False,
        }
        # Another domain records a decision (支付即会员 at checkout), once.
        assert await compliance.record_consent(
            s, shop.merchant_id, member_id, "membership", True, source="first_payment"
        )
        assert not await compliance.record_consent(
            s, shop.merchant_id, member_id, "membership", True, source="first_payment"
        )
        assert await compliance.has_consent(s, shop.merchant_id, member_id, "membership")
        audited = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.member_id == member_id, AuditEntry.subject_type == "consent")
        )
        assert audited == 5
    history = await _history(client, headers)
    assert (history[0]["purpose"], history[0]["source"], history[0]["platform"]) == (
        "membership",
        "first_payment",
        "dev",
    )
    # Another merchant's member shares nothing of this.
    other = await make_shop(client, rt)
    stranger = await login(client, other.merchant_id, "alice")
    assert await _history(client, stranger["headers"]) == []


async def test_location_needs_separate_consent(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await login(client, shop.merchant_id, "alice")
    headers = member["headers"]
    r = await _put(client, headers, {"location": True, "marketing": True})
    error = assert_error(r, 422, "separate_consent_required")
    assert error["details"] == {"purposes": ["location"]}
    assert await _history(client, headers) == []
    # Refusals may come together; a grant of location comes on its own.
    r = await _put(client, headers, {"location": False, "marketing": True})
    assert r.json()["changed"] == ["location", "marketing"]
    r = await _put(client, headers, {"location": True})
    assert r.json()["changed"] == ["location"]
    # Sending the whole state back, location included, is no bundled grant.
    r = await _put(client, headers, {"location": True, "marketing": True, "analytics": True})
    assert r.status_code == 200 and r.json()["changed"] == ["analytics"]


async def test_bad_consent_requests_write_nothing(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await login(client, shop.merchant_id, "alice")
    headers = member["headers"]
    cases: list[tuple[Any, str]] = [
        ({"marketing": True, "newsletter": True}, "unknown_purpose"),
        ({"Marketing": True}, "unknown_purpose"),
        ({"essential": False}, "essential_not_refusable"),
        ({"essential": False, "analytics": True}, "essential_not_refusable"),
        ({}, "no_purposes"),
        ({"marketing": "yes"}, "invalid_input"),
        ({"marketing": 1}, "invalid_input"),
        ({"marketing": None}, "invalid_input"),
        ([["marketing", True]], "invalid_input"),
        ("marketing", "invalid_input"),
    ]
    for body, code in cases:
        assert_error(await _put(client, headers, body), 422, code)
    error = assert_error(await _put(client, headers, {"ads": True, "bb": False}), 422)
    assert error["details"] == {"purposes": ["ads", "bb"]}
    assert await _history(client, headers) == []
    assert all(
        c["granted"] is None
        for k, c in (await _consents(client, headers))["consents"].items()
        if k != "essential"
    )
    # Accepting the essential purpose is fine and records nothing.
    r = await _put(client, headers, {"essential": True})
    assert r.status_code == 200 and r.json()["changed"] == []
    assert await _history(client, headers) == []


async def test_concurrent_identical_decisions_are_recorded_once(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member = await login(client, shop.merchant_id, "alice")
    headers = member["headers"]
    body = {"marketing": True, "analytics": False, "phone": True}
    responses = await asyncio.gather(*[_put(client, headers, body) for _ in range(6)])
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert sorted(len(r.json()["changed"]) for r in responses) == [0] * 5 + [3]
    assert len(await _ledger(rt, member["member_id"])) == 3


async def test_a_refusal_is_asked_again_only_when_the_policy_changes_its_purpose(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from growthloop.compliance import policy
    from growthloop.compliance import service as consent_service

    shop = await make_shop(client, rt)
    member = await shop.member("asker", join=False)
    optional = [p.key for p in policy.PURPOSES if not p.required and p.key != "guardian"]
    first = (await client.get("/v1/me/consents", headers=member)).json()
    assert first["to_ask"] == optional  # an adult is not asked for a guardian
    everything = dict.fromkeys(optional, False)
    for key in optional:  # separate purposes one by one
        r = await client.put("/v1/me/consents", json={key: everything[key]}, headers=member)
        assert r.status_code == 200, r.text
    assert (await client.get("/v1/me/consents", headers=member)).json()["to_ask"] == []

    # A new policy version adds a purpose: only that one is asked.
    added = policy.Purpose("surveys", "问卷调研", "邀请您参加满意度调研。", since="2027-01-01")
    purposes = (*policy.PURPOSES, added)
    monkeypatch.setattr(consent_service, "PURPOSES", purposes)
    monkeypatch.setattr(consent_service, "BY_KEY", {p.key: p for p in purposes})
    monkeypatch.setattr(consent_service, "POLICY_VERSION", "2027-01-01")
    assert (await client.get("/v1/me/consents", headers=member)).json()["to_ask"] == ["surveys"]


async def test_under_fourteen_a_guardian_consents_first(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    child = await shop.member("child", join=False)
    born = clock.now().date().replace(year=clock.now().year - 12)
    r = await client.patch("/v1/me/profile", json={"birthday": born.isoformat()}, headers=child)
    assert r.status_code == 200, r.text
    assert "guardian" in (await client.get("/v1/me/consents", headers=child)).json()["to_ask"]
    r = await client.put("/v1/me/consents", json={"marketing": True}, headers=child)
    assert_error(r, 422, "guardian_consent_required")
    # Refusing needs no guardian; the guardian's consent is separate, on its own.
    r = await client.put("/v1/me/consents", json={"analytics": False}, headers=child)
    assert r.status_code == 200, r.text
    r = await client.put(
        "/v1/me/consents", json={"guardian": True, "marketing": True}, headers=child
    )
    assert_error(r, 422, "separate_consent_required")
    assert (
        await client.put("/v1/me/consents", json={"guardian": True}, headers=child)
    ).status_code == 200
    r = await client.put("/v1/me/consents", json={"marketing": True}, headers=child)
    assert r.status_code == 200, r.text
    # A minor orders and pays like anyone (支付即会员 simply does not enrol them).
    product = await shop.product(price=500)
    other_child = await shop.member("child2", join=False)
    await client.patch("/v1/me/profile", json={"birthday": born.isoformat()}, headers=other_child)
    order = await shop.paid_order(other_child, product["id"])
    assert order["status"] == "paid"
    # An adult is not asked for a guardian.
    adult = await shop.member("adult", join=False)
    r = await client.put("/v1/me/consents", json={"marketing": True}, headers=adult)
    assert r.status_code == 200, r.text
