"""Verified phones (kept as a keyed hash only) and who is the same person at another merchant."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select, update

from growthloop.core.audit import AuditEntry
from growthloop.core.runtime import Runtime
from growthloop.identity import service as identity
from growthloop.identity.models import Member
from growthloop.identity.phone import mask_phone, normalize_phone
from tests.alliance.support import by_unionid, member_id, verify_phone
from tests.helpers import assert_error, make_shop


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("+1 (415) 555-0123", "+14155550123"),
        ("12345", None),
        ("23800138000", None),
        ("phone", None),
        ("+86 23800138000", None),
        ("+86 138 0013 8000 0000 0000 0000 0000", None),
    ],
)
def test_phone_numbers_are_normalised(raw: str, normalised: str | None) -> None:
    assert normalize_phone(raw) == normalised


def test_masks() -> None:
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("+14155550123") == "+14****0123"


async def _hash_of(rt: Runtime, member: str) -> str | None:
    async with rt.db.unit_of_work(write=False) as uow:
        return (
            await uow.session.execute(select(Member.phone_hash).where(Member.id == member))
        ).scalar_one()


async def test_a_verified_phone_is_kept_hashed_and_encrypted_never_in_clear(
    client: httpx.AsyncClient, rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shop = await make_shop(client, rt)
    member = await shop.member("phone-owner")
    me = await member_id(client, member)

    assert await verify_phone(client, member, "+86 138 0013 8000") == "138****8000"
    stored = await _hash_of(rt, me)
    assert stored is not None and len(stored) == 64 and "13800138000" not in stored
    # The same number in another spelling is the same hash; another number is not.
    assert await verify_phone(client, member, "13800138000") == "138****8000"
    assert await _hash_of(rt, me) == stored
    await verify_phone(client, member, "13900139000")
    assert await _hash_of(rt, me) not in (None, stored)

    async with rt.db.unit_of_work(write=False) as uow:
        entries = (
            await uow.session.execute(
                select(AuditEntry).where(
                    AuditEntry.member_id == me, AuditEntry.action.startswith("member.phone")
                )
            )
        ).scalars()
        audit = [(e.action, e.details) for e in entries]
    assert [a for a, _ in audit] == ["member.phone_verified"] * 3
    assert "138" not in repr(audit)
    leaked = [r.getMessage() for r in caplog.records if "0013" in r.getMessage()]
    assert not leaked, leaked[:1]

    r = await client.delete("/v1/me/phone", headers=member)
    assert r.status_code == 204
    assert await _hash_of(rt, me) is None


async def test_bad_phone_codes_change_nothing(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member("phone-bad")
    me = await member_id(client, member)
    await verify_phone(client, member, "13800138000")
    before = await _hash_of(rt, me)
    for code in ("not-a-number", "12345", "+86 23800138000"):
        r = await client.post("/v1/me/phone", json={"code": code}, headers=member)
        error = assert_error(r, 422, "invalid_phone_code")
        assert code not in str(error)
    # A platform this service has no credentials for.
    r = await client.post(
        "/v1/me/phone", json={"code": "13800138000", "platform": "wechat"}, headers=member
    )
    assert_error(r, 422, "platform_not_enabled")
    for body in ({}, {"code": ""}, {"code": "13800138000", "platform": "fax"}, {"code": 138}):
        assert_error(await client.post("/v1/me/phone", json=body, headers=member), 422)
    assert_error(await client.post("/v1/me/phone", json={"code": "13800138000"}), 401)
    assert await _hash_of(rt, me) == before


async def test_linked_member_by_unionid_or_phone(client: httpx.AsyncClient, rt: Runtime) -> None:
    a = await make_shop(client, rt, "甲")
    b = await make_shop(client, rt, "乙")
    c = await make_shop(client, rt, "丙")
    # Alice's phone is also on an earlier member of B, but her unionid links her: it wins.
    await verify_phone(client, await b.member("not-alice"), "13500135000")
    alice = await by_unionid(a, b, "alice")
    await verify_phone(client, alice.a, "13500135000")

    # Bob: same phone at A and B, nothing at C.
    bob_a, bob_b = await a.member("bob-a"), await b.member("bob-b")
    await verify_phone(client, bob_a, "+8613700137000")
    await verify_phone(client, bob_b, "13700137000")
    bob_a_id, bob_b_id = await member_id(client, bob_a), await member_id(client, bob_b)

    # Two members at B share Carol's phone: the earliest registered is chosen, always.
    carol_a = await a.member("carol-a")
    await verify_phone(client, carol_a, "13600136000")
    first, second = await b.member("carol-b1"), await b.member("carol-b2")
    for m in (second, first):
        await verify_phone(client, m, "13600136000")
    carol_a_id, first_id = await member_id(client, carol_a), await member_id(client, first)

    async with rt.db.unit_of_work(write=False) as uow:
        s = uow.session
        assert await identity.linked_member(s, alice.a_id, b.merchant_id) == alice.b_id
        assert await identity.linked_member(s, alice.b_id, a.merchant_id) == alice.a_id
        assert await identity.linked_member(s, alice.a_id, c.merchant_id) is None
        assert await identity.linked_member(s, alice.a_id, a.merchant_id) is None
        assert await identity.linked_member(s, bob_a_id, b.merchant_id) == bob_b_id
        assert await identity.linked_member(s, bob_b_id, a.merchant_id) == bob_a_id
        assert await identity.linked_member(s, bob_a_id, c.merchant_id) is None
        for _ in range(3):
            assert await identity.linked_member(s, carol_a_id, b.merchant_id) == first_id
        both = await identity.linked_members(s, bob_a_id, [b.merchant_id, c.merchant_id])
        assert both == {b.merchant_id: bob_b_id}

    # A member who is no longer active is nobody's link.
    async with rt.db.unit_of_work() as uow:
        await uow.session.execute(
            update(Member).where(Member.id == bob_b_id).values(status="deleted")
        )
    async with rt.db.unit_of_work(write=False) as uow:
        assert await identity.linked_member(uow.session, bob_a_id, b.merchant_id) is None
        assert await identity.linked_member(uow.session, bob_b_id, a.merchant_id) is None


async def test_dev_codes_with_a_unionid(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    plain = await shop.member("erin")
    with_union = await shop.member("erin|union-erin")
    # The external id is the part before "|": the same member, now with a unionid.
    assert await member_id(client, plain) == await member_id(client, with_union)
    for code in ("|union", "erin|"):
        r = await client.post(
            "/v1/auth/login",
            json={"merchant_id": shop.merchant_id, "platform": "dev", "code": code},
        )
        assert_error(r, 401, "invalid_login_code")
