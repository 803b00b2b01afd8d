"""How an acknowledged batch reaches the event store. The store is written after the unit of
work commits and before the answer: on SQLite, whose writer is one request at a time, a
batch waiting for its Parquet write must not hold that writer, so batches arriving
meanwhile commit and share the next write. A write that fails is a 503 and leaves nothing
remembered: the SDK's retry is taken whole. Also the per-process sets behind ingestion: the
recent event ids (dedup) and the identity cache."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyarrow as pa
import pytest

from growthloop.analytics import pipeline as pipeline_module
from growthloop.analytics.pipeline import ErasureGate, MemoryRecentIds, ScopedCache
from growthloop.analytics.tasks import flush_outbox
from growthloop.compliance import deletion
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, make_shop


async def _send(shop: Shop, *uuids: str) -> httpx.Response:
    events = [{"event": "view", "distinct_id": f"d-{u}", "uuid": u} for u in uuids]
    return await shop.client.post(
        "/v1/ingest/batch", json={"events": events}, headers={"X-Ingest-Key": shop.ingest_key}
    )


async def _until(condition: Any, what: str) -> None:
    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 (state other tasks change, no event to await)
            await asyncio.sleep(0.005)

    try:
        await asyncio.wait_for(poll(), timeout=10)
    except TimeoutError:
        pytest.fail(f"never happened: {what}")


@dataclass
class HeldWrites:
    """The store's appends as they begin (rows each); the held ones wait for `release`."""

    written: list[int] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)


def _hold_writes(
    monkeypatch: pytest.MonkeyPatch, store: Any, *, first_only: bool = False
) -> HeldWrites:
    real_append = store.append
    held = HeldWrites()

    async def held_append(rows: pa.Table, *, key: str | None = None) -> int:
        held.written.append(rows.num_rows)
        if not first_only or len(held.written) == 1:
            await held.release.wait()
        return await real_append(rows, key=key)

    monkeypatch.setattr(store, "append", held_append)
    return held


def _disk_full_once(monkeypatch: pytest.MonkeyPatch, store: Any) -> None:
    real_append = store.append
    failures = [OSError(28, "No space left on device")]

    async def full_disk(rows: pa.Table, *, key: str | None = None) -> int:
        if failures:
            raise failures.pop()
        return await real_append(rows, key=key)

    monkeypatch.setattr(store, "append", full_disk)


def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pipeline's monotonic clock, moved by hand: `clock[0] += seconds`."""
    clock = [1000.0]
    monkeypatch.setattr(pipeline_module.time, "monotonic", lambda: clock[0])
    return clock


async def test_batches_arriving_during_a_write_share_the_next_one(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await make_shop(client, rt)
    store = rt.analytics.store
    held = _hold_writes(monkeypatch, store, first_only=True)  # the first takes its time
    written, release = held.written, held.release
    first = asyncio.create_task(_send(shop, "a1"))
    await _until(lambda: written == [1], "the first batch's write began")
    others = [asyncio.create_task(_send(shop, f"b{i}", f"c{i}")) for i in range(3)]
    # Each of them commits and hands its rows over while the first write is held: with the
    # database's writer still held by the first request they could not get this far.
    await _until(lambda: rt.analytics.batcher.pending == 6, "three batches waited together")
    release.set()
    answers = await asyncio.gather(first, *others)

    assert [a.status_code for a in answers] == [200] * 4
    assert [a.json()["accepted"] for a in answers] == [1, 2, 2, 2]
    assert written == [1, 6]
    assert await store.count(shop.merchant_id) == 7


async def test_a_failed_write_is_a_503_and_the_retry_is_taken(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await make_shop(client, rt)
    store = rt.analytics.store
    _disk_full_once(monkeypatch, store)
    r = await _send(shop, "e1", "e2")
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "event_store_unavailable"
    assert await store.count(shop.merchant_id) == 0

    r = await _send(shop, "e1", "e2")  # the SDK sends the same batch again
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    assert r.json()["duplicates"] == 0
    assert await store.count(shop.merchant_id) == 2

    r = await _send(shop, "e1", "e2")  # and once more: now they are stored
    assert r.json()["duplicates"] == 2
    assert await store.count(shop.merchant_id) == 2


async def test_one_bad_text_is_rejected_alone(client: httpx.AsyncClient, rt: Runtime) -> None:
    """A lone surrogate (\\ud800, which JSON escapes can spell) cannot be stored as UTF-8:
    the event naming one is rejected, and the write of the others (and of the batches
    sharing it) goes on."""
    shop = await make_shop(client, rt)
    good = '{"event":"view","distinct_id":"ok","uuid":"g1"}'
    bad = [
        '{"event":"v\\ud800","distinct_id":"p"}',
        '{"event":"view","distinct_id":"p\\udfff"}',
        '{"event":"view","distinct_id":"p","uuid":"\\ud800"}',
        '{"event":"view","distinct_id":"p","properties":{"a":"\\ud800"}}',
    ]
    body = '{"events":[' + ",".join([*bad, good]) + "]}"
    r = await client.post(
        "/v1/ingest/batch",
        content=body,
        headers={"X-Ingest-Key": shop.ingest_key, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    codes = [x["code"] for x in r.json()["rejected"]]
    assert codes == ["invalid_event", "invalid_distinct_id", "invalid_uuid", "invalid_properties"]
    assert await rt.analytics.store.count(shop.merchant_id) == 1


async def test_recent_ids_dedup_per_merchant_and_forget() -> None:
    recent = MemoryRecentIds()
    assert await recent.claim("m1", ["a", "b"]) == {"a", "b"}
    assert await recent.claim("m1", ["b", "c"]) == {"c"}
    assert await recent.claim("m2", ["a"]) == {"a"}  # another merchant's id space
    await recent.forget("m1", ["b"])
    assert await recent.claim("m1", ["a", "b"]) == {"b"}


async def test_recent_ids_hold_the_latest_within_capacity() -> None:
    recent = MemoryRecentIds(capacity=8)  # generations of 4
    for i in range(20):
        assert await recent.claim("m", [f"e{i}"]) == {f"e{i}"}
    # The last 4 to 8 ids are remembered; the oldest are forgotten whole.
    assert await recent.claim("m", ["e19", "e18", "e17", "e16"]) == set()
    assert await recent.claim("m", ["e0"]) == {"e0"}


async def test_recent_ids_expire_after_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _frozen_clock(monkeypatch)
    recent = MemoryRecentIds()
    assert await recent.claim("m", ["a"]) == {"a"}
    clock[0] += pipeline_module.DEDUP_SECONDS - 1
    assert await recent.claim("m", ["a"]) == set()
    clock[0] += 2
    assert await recent.claim("m", ["a"]) == {"a"}


def test_the_identity_cache_answers_for_at_most_its_age(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _frozen_clock(monkeypatch)
    cache = ScopedCache(capacity=100, max_age=30)
    cache.put("m1", "d1", ("p1", "mem1"))
    cache.put("m1", "d2", ())
    assert cache.get_many("m1", {"d1", "d2", "d3"}) == {"d1": ("p1", "mem1"), "d2": ()}
    assert cache.get_many("m2", {"d1"}) == {}  # never another merchant's
    clock[0] += 20  # one swap: still answered, from the older generation
    assert cache.get_many("m1", {"d1"}) == {"d1": ("p1", "mem1")}
    cache.drop("m1", "d1")
    assert cache.get_many("m1", {"d1", "d2"}) == {"d2": ()}
    clock[0] += 20  # a second swap: put 40 s ago, gone
    assert cache.get_many("m1", {"d2"}) == {}
    cache.put("m1", "d3", ("p3", None))
    clock[0] += 31  # idle past the whole age: both generations are stale
    assert cache.get_many("m1", {"d3"}) == {}


def test_the_identity_cache_is_bounded() -> None:
    cache = ScopedCache(capacity=10, max_age=3600)
    for i in range(40):
        cache.put("m", f"d{i}", ("p", None))
        cache.get_many("m", {"d0"})  # a lookup ages the generations
    held = cache.get_many("m", {f"d{i}" for i in range(40)})
    assert 5 <= len(held) <= 10
    assert "d39" in held


async def test_an_erasure_cleans_the_batches_resolved_before_it(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of the member's events, resolved to them and committed, is still being
    written when the member's erasure runs: the erasure waits for it and cleans it too."""
    shop = await make_shop(client, rt)
    member = await shop.member("bob-erased-code")
    await flush_outbox(rt.db, rt.analytics)  # the member's ids now resolve to them
    me = (await client.get("/v1/me", headers=member)).json()
    store = rt.analytics.store
    held = _hold_writes(monkeypatch, store)
    written, release = held.written, held.release
    events = [
        {"event": "view", "distinct_id": "bob-erased-code", "uuid": f"be{i}"} for i in range(3)
    ]
    sending = asyncio.create_task(
        client.post(
            "/v1/ingest/batch", json={"events": events}, headers={"X-Ingest-Key": shop.ingest_key}
        )
    )
    await _until(lambda: written == [3], "the member's batch is being written")
    assert (await client.post("/v1/me/deletion", headers=member)).status_code == 200
    erasing = asyncio.create_task(deletion.run_due(rt.db, rt.clock, rt.privacy, every=True))
    await _until(lambda: rt.analytics.gate.closing, "the erasure waits at the gate")
    await asyncio.sleep(0.05)
    assert not erasing.done()  # it does not clean the store before the batch has landed
    release.set()
    assert (await sending).status_code == 200
    assert await erasing == 1
    rows = await store.query(
        shop.merchant_id,
        f"SELECT count(*) FROM events WHERE mem = '{me['id']}' OR distinct_id = 'bob-erased-code'",
    )
    assert rows == [(0,)]
    assert await store.count(shop.merchant_id) >= 3  # kept, without the person


def test_the_identity_cache_bound_holds_between_sparse_lookups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _frozen_clock(monkeypatch)
    cache = ScopedCache(capacity=100, max_age=30)
    cache.put("m1", "d1", ("p1", None))
    clock[0] += 29  # the first lookup in a while: the entry is 29 s old
    assert cache.get_many("m1", {"d1"}) == {"d1": ("p1", None)}
    clock[0] += 11  # 40 s old, though the generations swapped only 11 s ago
    assert cache.get_many("m1", {"d1"}) == {}


async def test_an_idempotency_key_never_replays_a_batch_that_was_not_stored(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events carry their own ids; a key stored with the answer in the transaction would
    replay a 200 for a write that failed after the commit."""
    shop = await make_shop(client, rt)
    store = rt.analytics.store
    _disk_full_once(monkeypatch, store)
    headers = {"X-Ingest-Key": shop.ingest_key, "Idempotency-Key": "batch-1"}
    body = {"events": [{"event": "view", "distinct_id": "d1", "uuid": "k1"}]}
    first = await client.post("/v1/ingest/batch", json=body, headers=headers)
    assert first.status_code == 503
    again = await client.post("/v1/ingest/batch", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert await store.count(shop.merchant_id) == 1


async def test_links_whose_overrides_fail_are_made_again_on_the_retry(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await make_shop(client, rt)
    store = rt.analytics.store
    real_overrides = store.add_overrides
    written: list[tuple[str, str]] = []
    failures = [OSError(28, "No space left on device")]

    async def flaky_overrides(rows: list[Any]) -> None:
        if failures:
            raise failures.pop()
        written.extend((row.distinct_id, row.person_id) for row in rows)
        await real_overrides(rows)

    monkeypatch.setattr(store, "add_overrides", flaky_overrides)
    body = {
        "events": [
            {
                "event": "$identify",
                "distinct_id": "person-1",
                "uuid": "i1",
                "properties": {"$anon_distinct_id": "device-1"},
            }
        ]
    }
    headers = {"X-Ingest-Key": shop.ingest_key}
    assert (await client.post("/v1/ingest/batch", json=body, headers=headers)).status_code == 503
    r = await client.post("/v1/ingest/batch", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert written == [("device-1", "person-1")]  # the link was undone and made again


async def test_a_closed_gate_waits_for_the_batches_inside_and_gives_up_in_time() -> None:
    gate = ErasureGate(wait_seconds=0.05)
    await gate.enter()
    with pytest.raises(TimeoutError):
        await gate.close()  # a batch that never finishes: the erasure fails, to be retried
    assert not gate.closing
    await gate.enter()  # the gate is open again
    await gate.leave()
    await gate.leave()
    await gate.close()
    entering = asyncio.create_task(gate.enter())
    await asyncio.sleep(0.01)
    assert not entering.done()  # held back while the erasure runs
    await gate.open()
    await asyncio.wait_for(entering, 1)
