"""Referral codes and invitations: who invited whom is bound once, at sign-up."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from growthloop.core.runtime import Runtime
from growthloop.identity import service as identity
from growthloop.identity.events import MemberInvited
from growthloop.identity.models import Member
from tests.helpers import make_shop
from tests.identity.support import committed_events, login


async def _referral(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.get("/v1/me/referral", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _invites(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    r = await client.get("/v1/me/membership", headers=headers)
    assert r.status_code == 200, r.text
    return int(r.json()["invites"])


async def test_a_new_member_is_bound_to_their_inviter(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    alice = await login(client, shop.merchant_id, "alice")
    mine = await _referral(client, alice["headers"])
    code = mine["referrer_code"]
    assert len(code) == identity.REFERRAL_CODE_LENGTH
    assert set(code) <= set(identity.REFERRAL_ALPHABET)
    # No distribution programme here: no promoter binding (campaigns/distribution).
    unbound = {"bound_to_promoter": False, "bound_at": None, "binding_expires_at": None}
    assert mine == {
        "referrer_code": code,
        "invited_count": 0,
        "referred_by": None,
        "invited_by": None,
        **unbound,
    }
    carol = await login(client, shop.merchant_id, "carol")  # a member before the invitation

    with committed_events(rt, MemberInvited) as invited:
        # Typed from a poster: case and spaces do not matter.
        bob = await login(client, shop.merchant_id, "bob", referrer_code=f" {code.lower()} ")
        assert bob["is_new"] is True
        # Logging in again with the code, or with another member's, binds nothing more.
        again = await login(client, shop.merchant_id, "bob", referrer_code=code)
        assert again["is_new"] is False
        bob_code = (await _referral(client, bob["headers"]))["referrer_code"]
        await login(client, shop.merchant_id, "alice", referrer_code=bob_code)
        # An existing member logging in with a code is not bound.
        await login(client, shop.merchant_id, "carol", referrer_code=code)
        # An existing member logging in with their own code is not bound.
        await login(client, shop.merchant_id, "alice", referrer_code=code)

    assert [(e.name, e.merchant_id, e.member_id, e.payload) for e in invited] == [
        ("member.invited", shop.merchant_id, alice["member_id"], {"invitee_id": bob["member_id"]})
    ]
    assert await _referral(client, bob["headers"]) == {
        "referrer_code": bob_code,
        "invited_count": 0,
        "referred_by": alice["member_id"],
        "invited_by": alice["member_id"],
        **unbound,
    }
    assert await _referral(client, alice["headers"]) == {
        "referrer_code": code,
        "invited_count": 1,
        "referred_by": None,
        "invited_by": None,
        **unbound,
    }
    assert (await _referral(client, carol["headers"]))["referred_by"] is None
    assert await _invites(client, alice["headers"]) == 1  # loyalty counted it once


async def test_unknown_foreign_and_own_codes_are_ignored(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    other = await make_shop(client, rt)
    stranger = await login(client, other.merchant_id, "stranger")
    foreign_code = (await _referral(client, stranger["headers"]))["referrer_code"]
    with committed_events(rt, MemberInvited) as invited:
        for n, referrer_code in enumerate(["ZZZZZZZZ", foreign_code, "!", "x" * 64]):
            member = await login(client, shop.merchant_id, f"new-{n}", referrer_code=referrer_code)
            assert member["is_new"] is True
            assert (await _referral(client, member["headers"]))["referred_by"] is None
    assert invited == []
    assert (await _referral(client, stranger["headers"]))["invited_count"] == 0

    # Binding a member to their own code binds nothing.
    alice = await login(client, shop.merchant_id, "alice")
    async with rt.db.unit_of_work() as uow:
        row = await uow.session.get(Member, alice["member_id"])
        assert row is not None and row.referral_code is not None
        assert await identity.bind_referrer(uow.session, row, row.referral_code) is None
        assert row.referred_by is None


async def test_concurrent_first_logins_bind_once(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    alice = await login(client, shop.merchant_id, "alice")
    code = (await _referral(client, alice["headers"]))["referrer_code"]
    body = {"merchant_id": shop.merchant_id, "platform": "dev", "code": "bob"}
    with committed_events(rt, MemberInvited) as invited:
        responses = await asyncio.gather(
            *[client.post("/v1/auth/login", json={**body, "referrer_code": code}) for _ in range(8)]
        )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert sorted(r.json()["is_new"] for r in responses) == [False] * 7 + [True]
    assert len({r.json()["member_id"] for r in responses}) == 1
    bob_id = responses[0].json()["member_id"]
    assert [(e.member_id, e.payload) for e in invited] == [
        (alice["member_id"], {"invitee_id": bob_id})
    ]
    assert (await _referral(client, alice["headers"]))["invited_count"] == 1
    assert await _invites(client, alice["headers"]) == 1


async def test_a_code_collision_draws_again(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await make_shop(client, rt)
    alice = await login(client, shop.merchant_id, "alice")
    taken = (await _referral(client, alice["headers"]))["referrer_code"]
    draws = itertools.chain([taken, taken], iter(lambda: "NEWCODE2", None))
    monkeypatch.setattr(identity, "new_referral_code", lambda: next(draws))
    bob = await login(client, shop.merchant_id, "bob", referrer_code=taken)
    assert bob["is_new"] is True
    assert await _referral(client, bob["headers"]) == {
        "referrer_code": "NEWCODE2",
        "invited_count": 0,
        "referred_by": alice["member_id"],
        "invited_by": alice["member_id"],
        "bound_to_promoter": False,
        "bound_at": None,
        "binding_expires_at": None,
    }


async def test_members_without_a_code_get_one_on_first_look(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    alice = await login(client, shop.merchant_id, "alice")
    async with rt.db.unit_of_work() as uow:  # a member from before referral codes
        await uow.session.execute(update(Member).values(referral_code=None))
    looks = await asyncio.gather(*[_referral(client, alice["headers"]) for _ in range(5)])
    codes = {look["referrer_code"] for look in looks}
    assert len(codes) == 1
    (code,) = codes
    assert len(code) == identity.REFERRAL_CODE_LENGTH
    assert (await _referral(client, alice["headers"]))["referrer_code"] == code
    async with rt.db.unit_of_work(write=False) as uow:
        stored = await uow.session.scalar(
            select(Member.referral_code).where(Member.id == alice["member_id"])
        )
    assert stored == code
    # The lazily given code invites like any other.
    bob = await login(client, shop.merchant_id, "bob", referrer_code=code)
    assert (await _referral(client, bob["headers"]))["referred_by"] == alice["member_id"]
