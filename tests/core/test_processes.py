"""Process heartbeats: each running process records the PII key ids it holds; rotation and
start-up are checked against them and against the key ids the stored values use."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from growthloop.all_models import metadata
from growthloop.core import crypto, processes
from growthloop.core.processes import ProcessHeartbeat
from growthloop.core.runtime import Runtime
from tests.helpers import make_shop

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(32, 64))


def ring(*keys: tuple[str, bytes]) -> crypto.KeyRing:
    return crypto.KeyRing(list(keys))


@pytest.fixture
def app_ring() -> Iterator[crypto.KeyRing]:
    """The app's ring (the derived k0), put back after tests that configure another."""
    saved = crypto.current_keys()
    yield saved
    crypto.configure_keys(saved)


async def _rows(rt: Runtime) -> list[ProcessHeartbeat]:
    async with rt.db.unit_of_work(write=False) as uow:
        return list((await uow.session.execute(select(ProcessHeartbeat))).scalars())


async def test_heartbeat_records_the_key_ids_refreshes_and_is_removed_on_stop(
    rt: Runtime, app_ring: crypto.KeyRing
) -> None:
    keys = ring(("k0", b"0" * 32), ("k1", KEY_1))
    crypto.configure_keys(keys)
    beat = await processes.begin(rt.db, "worker", metadata, interval=0.05)
    try:
        [row] = await _rows(rt)
        assert (row.role, row.host, row.pid) == ("worker", socket.gethostname(), os.getpid())
        assert row.id == f"{row.host}:{row.pid}:{row.started_at.timestamp():.6f}"
        assert row.key_ids == ["k0", "k1"] and row.current_key_id == "k1"
        assert row.key_checks == {"k0": keys.checks["k0"], "k1": keys.checks["k1"]}
        assert row.key_checks["k1"] == crypto.key_check(KEY_1) != crypto.key_check(KEY_2)
        assert len(row.key_checks["k1"]) == 8  # a fingerprint, not the key
        first_seen = row.last_seen
        for _ in range(100):
            await asyncio.sleep(0.05)
            [row] = await _rows(rt)
            if row.last_seen > first_seen:
                break
        assert row.last_seen > first_seen  # refreshed in the background
        assert row.started_at <= first_seen
    finally:
        await beat.stop()
    assert await _rows(rt) == []


async def test_live_and_stale(rt: Runtime) -> None:
    first = processes.Heartbeat(rt.db, "serve", ring(("k1", KEY_1)))
    second = processes.Heartbeat(rt.db, "worker", ring(("k1", KEY_1), ("k2", KEY_2)))
    await first.beat()
    await second.beat()
    async with rt.db.unit_of_work() as uow:
        now = await processes.database_now(uow.session)
        # the first process died 91 s ago
        await uow.session.execute(
            update(ProcessHeartbeat)
            .where(ProcessHeartbeat.id == first.id)
            .values(last_seen=now - processes.STALE_AFTER - timedelta(seconds=1))
        )
    async with rt.db.unit_of_work(write=False) as uow:
        now = await processes.database_now(uow.session)
        live = await processes.live_processes(uow.session, now)
        assert [p.id for p in live] == [second.id]
        assert await processes.count_stale(uow.session, now) == 1
    # a process that has been dead for a day is forgotten when the next one starts
    async with rt.db.unit_of_work() as uow:
        await uow.session.execute(
            update(ProcessHeartbeat)
            .where(ProcessHeartbeat.id == first.id)
            .values(last_seen=now - timedelta(days=1, seconds=1))
        )
    third = processes.Heartbeat(rt.db, "serve", ring(("k2", KEY_2)))
    await third.beat()
    assert sorted(p.id for p in await _rows(rt)) == sorted([second.id, third.id])


async def test_rotation_problems(rt: Runtime) -> None:
    old, new = ("k1", KEY_1), ("k2", KEY_2)
    target = ring(old, new)
    beats = {
        "without k2": processes.Heartbeat(rt.db, "serve", ring(old)),
        "k2 not newest": processes.Heartbeat(rt.db, "worker", ring(new, old)),
        "another k2": processes.Heartbeat(rt.db, "serve", ring(old, ("k2", KEY_1))),
        "ready": processes.Heartbeat(rt.db, "serve", ring(old, new)),
    }
    for beat in beats.values():
        await beat.beat()
    async with rt.db.unit_of_work(write=False) as uow:
        live = await processes.live_processes(
            uow.session, await processes.database_now(uow.session)
        )
    by_id = {p.id: p for p in live}
    assert len(by_id) == 4
    for name, beat in beats.items():
        problems = processes.rotation_problems(target, [by_id[beat.id]])
        desc = by_id[beat.id].describe()
        expected = {
            "without k2": [f"{desc} lacks key id 'k2': it could not read the rotated data"],
            "k2 not newest": [
                f"{desc} seals new values with key id 'k1', not 'k2': 'k2' must be the "
                "newest (last) key of every process"
            ],
            "another k2": [
                f"{desc} holds a different key under the id 'k2': it could not read the "
                "rotated data"
            ],
            "ready": [],
        }[name]
        assert problems == expected, name
    assert len(await processes.rotation_check(rt.db, target)) == 3


async def _sealed_member(client: httpx.AsyncClient, rt: Runtime, nickname: str) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    r = await client.patch("/v1/me/profile", json={"nickname": nickname}, headers=member)
    assert r.status_code == 200, r.text


async def test_a_process_refuses_to_start_without_a_key_the_data_uses(
    client: httpx.AsyncClient, rt: Runtime, app_ring: crypto.KeyRing
) -> None:
    with_k1 = crypto.KeyRing([("k0", b"0" * 32), ("k1", KEY_1)])
    crypto.configure_keys(with_k1)
    await _sealed_member(client, rt, "一号")
    await _sealed_member(client, rt, "二号")

    crypto.configure_keys(crypto.KeyRing([("k0", b"0" * 32)]))  # k1 retired too early
    with pytest.raises(processes.KeysUnavailable) as refused:
        await processes.begin(rt.db, "serve", metadata)
    assert refused.value.problems == [
        "2 values are sealed with key id 'k1', which is not in GROWTHLOOP_PII_KEYS"
    ]
    assert "keys-status" in str(refused.value)
    assert await _rows(rt) == []  # no heartbeat left behind

    crypto.configure_keys(crypto.KeyRing([("k0", b"0" * 32), ("k1", KEY_2)]))  # a typo in k1
    with pytest.raises(processes.KeysUnavailable) as refused:
        await processes.begin(rt.db, "serve", metadata)
    assert refused.value.problems == [
        "2 values are sealed with key id 'k1', which holds a different key here"
    ]

    crypto.configure_keys(with_k1)
    beat = await processes.begin(rt.db, "serve", metadata)
    await beat.stop()


async def test_key_status(client: httpx.AsyncClient, rt: Runtime, app_ring: crypto.KeyRing) -> None:
    k0 = ("k0", b"0" * 32)
    crypto.configure_keys(ring(k0, ("k1", KEY_1)))
    await _sealed_member(client, rt, "一号")
    crypto.configure_keys(ring(k0, ("k1", KEY_1), ("k2", KEY_2)))
    await _sealed_member(client, rt, "二号")
    behind = processes.Heartbeat(rt.db, "worker", ring(k0, ("k2", KEY_2)))  # k1 retired
    await behind.beat()

    status = await processes.key_status(rt.db, metadata, ring(k0, ("k1", KEY_1), ("k2", KEY_2)))
    [proc] = status["processes"]
    assert proc["id"] == behind.id and proc["key_ids"] == ["k0", "k2"]
    assert proc["newest_key_id"] == "k2" and proc["role"] == "worker"
    desc = f"worker {behind.host} pid {behind.pid} (started {behind.started_at:%Y-%m-%d %H:%M:%S}Z)"
    assert status == {
        "this_command": {"key_ids": ["k0", "k1", "k2"], "newest_key_id": "k2"},
        "data": {"k1": 1, "k2": 1},
        "plaintext": 0,
        "processes": [proc],
        "stale_processes": 0,
        "unused_key_ids": ["k0"],
        "problems": [
            f"{desc} lacks key id 'k1', which 1 stored values use: its requests that read "
            "them answer 503"
        ],
        "rotate_to": {"key_id": "k2", "blockers": []},
    }

    # this command with another k2, and without k1
    status = await processes.key_status(rt.db, metadata, ring(k0, ("k2", KEY_1)))
    assert status["problems"][:2] == [
        "1 stored values are sealed with key id 'k1', which is not in this command's "
        "GROWTHLOOP_PII_KEYS",
        "1 stored values are sealed with key id 'k2', which holds a different key in this "
        "command's GROWTHLOOP_PII_KEYS",
    ]
    assert status["problems"][3] == (
        f"{desc} holds a different key under the id 'k2' than this command"
    )
    assert status["rotate_to"]["blockers"] == [
        f"{desc} holds a different key under the id 'k2': it could not read the rotated data"
    ]
