"""PII encryption at rest: sealed values, the key ring, rotation, keyed hashes, masks."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Column, MetaData, String, Table, insert, select, text

from growthloop.all_models import metadata as app_metadata
from growthloop.core import crypto
from growthloop.core.config import Settings
from growthloop.core.db import Database

CTX = "members.nickname"


def ring(*kids: str) -> crypto.KeyRing:
    """A ring of fixed test keys, one per kid (the same kid always gets the same key)."""
    return crypto.KeyRing([(kid, kid.encode().ljust(32, b"\0")) for kid in kids])


@pytest.fixture
def process_ring() -> Iterator[None]:
    """Tests that configure the process-wide ring put the app's back afterwards."""
    saved = crypto._ring
    yield
    crypto._ring = saved


def test_round_trip_and_stored_format() -> None:
    keys = ring("k1")
    stored = keys.encrypt("张三丰", CTX)
    assert stored.startswith("enc:v1:k1:") and "张三丰" not in stored
    blob = base64.b64decode(stored.removeprefix("enc:v1:k1:"))
    assert len(blob) == 12 + len("张三丰".encode()) + 16  # nonce | ciphertext | tag
    assert keys.decrypt(stored, CTX) == "张三丰"
    assert keys.encrypt("张三丰", CTX) != stored  # a fresh nonce each time
    assert keys.decrypt(keys.encrypt("", CTX), CTX) == ""


def test_associated_data_binds_the_column() -> None:
    keys = ring("k1")
    stored = keys.encrypt("13800138000", "members.phone_encrypted")
    with pytest.raises(crypto.UndecryptableValue, match=r"mall_redemptions\.ship_phone"):
        keys.decrypt(stored, "mall_redemptions.ship_phone")


def test_tampered_value_does_not_open() -> None:
    keys = ring("k1")
    stored = keys.encrypt("上海市徐汇区", CTX)
    blob = bytearray(base64.b64decode(stored.removeprefix("enc:v1:k1:")))
    blob[-1] ^= 1
    with pytest.raises(crypto.UndecryptableValue):
        keys.decrypt("enc:v1:k1:" + base64.b64encode(bytes(blob)).decode(), CTX)


def test_unknown_key_id_is_a_clear_error() -> None:
    stored = ring("k9").encrypt("张三", CTX)
    with pytest.raises(crypto.UnknownKeyId, match=r"'k9'.*GROWTHLOOP_PII_KEYS"):
        ring("k1").decrypt(stored, CTX)


def test_plaintext_is_never_returned_as_if_it_were_sealed() -> None:
    with pytest.raises(crypto.PlaintextValue, match="rotate-keys"):
        ring("k1").decrypt("张三", CTX)
    with pytest.raises(crypto.PlaintextValue):
        ring("k1").decrypt("enc:v1:k1", CTX)  # looks sealed, is not


def test_rotation_keeps_old_values_readable_and_seals_with_the_newest() -> None:
    old = ring("k1").encrypt("张三", CTX)
    rotated = ring("k1", "k2")
    assert rotated.current_kid == "k2"
    assert rotated.decrypt(old, CTX) == "张三"
    assert rotated.encrypt("张三", CTX).startswith("enc:v1:k2:")


def test_key_ring_from_settings() -> None:
    secret = "s" * 40
    derived = crypto.key_ring(None, secret)
    assert (derived.kids, derived.current_kid) == (["k0"], "k0")
    assert crypto.key_ring(None, secret).decrypt(derived.encrypt("x", CTX), CTX) == "x"
    with pytest.raises(crypto.UndecryptableValue):  # another secret, another k0
        crypto.key_ring(None, "t" * 40).decrypt(derived.encrypt("x", CTX), CTX)
    key = crypto.new_key()
    explicit = crypto.key_ring(f"k1:{key}", secret)
    # the derived k0 stays readable, so moving to explicit keys is a rotation
    assert (explicit.kids, explicit.current_kid) == (["k0", "k1"], "k1")
    assert explicit.decrypt(derived.encrypt("x", CTX), CTX) == "x"
    assert crypto.key_ring(f"k0:{key}", secret).kids == ["k0"]


# Fixed keys: parameters built at import time must be the same in every xdist worker.
_KEY_A = base64.b64encode(bytes(range(32))).decode()
_KEY_B = base64.b64encode(bytes(range(32, 64))).decode()


@pytest.mark.parametrize(
    "spec",
    [
        "k1",
        "k1:not base64!",
        "k1:" + base64.b64encode(b"short").decode(),
        f"k1:{_KEY_A},k1:{_KEY_B}",
        "bad kid:" + _KEY_A,
        ",",
    ],
    ids=["no key", "not base64", "short key", "kid twice", "bad kid", "empty"],
)
def test_bad_key_settings_are_refused_at_start(spec: str) -> None:
    with pytest.raises(crypto.PIIKeyError):
        crypto.parse_keys(spec)
    with pytest.raises(ValidationError, match="GROWTHLOOP_PII_KEYS"):
        Settings(pii_keys=spec)


def test_keyed_hash() -> None:
    secret = "s" * 40
    a = crypto.keyed_hash(secret, "13800138000")
    assert a == crypto.keyed_hash(secret, "13800138000") and len(a) == 64
    assert a != crypto.keyed_hash(secret, "13800138001")
    assert a != crypto.keyed_hash("t" * 40, "13800138000")
    assert a != crypto.keyed_hash(secret, "13800138000", purpose="email")
    # the derivation phone hashes were stored with before: they stay valid
    import hashlib
    import hmac

    legacy_key = hashlib.sha256(b"growthloop-phone:" + secret.encode()).digest()
    assert a == hmac.new(legacy_key, b"13800138000", hashlib.sha256).hexdigest()


def test_masks() -> None:
    assert crypto.mask_phone("13812341234") == "138****1234"
    assert crypto.mask_name("张三丰") == "张*"
    assert crypto.mask_name("李") == "李*"
    assert crypto.mask_address("上海市徐汇区漕溪北路 88 号") == "上海市徐汇区****"


def test_every_encrypted_column_is_bound_to_itself() -> None:
    sealed = {f"{t.name}.{c.name}" for t, c in crypto.encrypted_columns(app_metadata)}
    assert sealed == {
        "members.nickname",
        "members.birthday",
        "members.phone_encrypted",
        "mall_redemptions.ship_name",
        "mall_redemptions.ship_phone",
        "mall_redemptions.ship_address",
    }
    assert crypto.check_contexts(app_metadata) == []


async def test_column_types_and_rotate_keys(tmp_path: Path, process_ring: None) -> None:
    meta = MetaData()
    people = Table(
        "people",
        meta,
        Column("id", String(8), primary_key=True),
        Column("name", crypto.EncryptedText("people.name")),
        Column("born", crypto.EncryptedDate("people.born")),
    )
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        crypto.configure_keys(ring("k1"))
        async with db.unit_of_work() as uow:
            rows = [
                {"id": f"p{i}", "name": f"张{i}", "born": date(1990, 1, i + 1)} for i in range(5)
            ]
            await uow.session.execute(insert(people), rows)
            await uow.session.execute(insert(people).values(id="p9", name=None, born=None))
            # written by hand, behind the column type's back
            await uow.session.execute(text("INSERT INTO people (id, name) VALUES ('p8', '李四')"))

        async def raw() -> dict[str, tuple[str | None, str | None]]:
            async with db.unit_of_work(write=False) as uow:
                query = text("SELECT id, name, born FROM people ORDER BY id")
                return {i: (n, b) for i, n, b in await uow.session.execute(query)}

        before = await raw()
        assert before["p0"][0] is not None and before["p0"][0].startswith("enc:v1:k1:")
        assert before["p0"][1] is not None and "1990" not in before["p0"][1]
        assert before["p9"] == (None, None)
        async with db.unit_of_work(write=False) as uow:
            got = (await uow.session.execute(select(people).where(people.c.id == "p0"))).one()
            assert (got.name, got.born) == ("张0", date(1990, 1, 1))
            with pytest.raises(crypto.PlaintextValue, match=r"people\.name"):
                query = select(people.c.name).where(people.c.id == "p8")
                (await uow.session.execute(query)).scalar_one()

        crypto.configure_keys(new := ring("k1", "k2"))
        counts = await crypto.rotate_keys(db, meta, new, batch_size=2)
        assert counts == {
            "people.name": {"rotated": 5, "sealed": 1, "current": 0},
            "people.born": {"rotated": 5, "sealed": 0, "current": 0},
        }
        after = await raw()
        for key in ("p0", "p1", "p2", "p3", "p4"):
            assert all(v is not None and v.startswith("enc:v1:k2:") for v in after[key])
        assert after["p8"][0] is not None and after["p8"][0].startswith("enc:v1:k2:")
        assert after["p9"] == (None, None)
        async with db.unit_of_work(write=False) as uow:
            got_all = (await uow.session.execute(select(people).order_by(people.c.id))).all()
        assert [(r.name, r.born) for r in got_all][:5] == [
            (f"张{i}", date(1990, 1, i + 1)) for i in range(5)
        ]
        assert got_all[5].name == "李四"

        again = await crypto.rotate_keys(db, meta, new, batch_size=2)
        assert again == {
            "people.name": {"rotated": 0, "sealed": 0, "current": 6},
            "people.born": {"rotated": 0, "sealed": 0, "current": 5},
        }
        assert await raw() == after
        # the old key can now go
        crypto.configure_keys(ring("k2"))
        async with db.unit_of_work(write=False) as uow:
            assert (await uow.session.execute(select(people.c.name))).scalars().all()
    finally:
        await db.dispose()


async def test_key_usage_and_what_a_ring_cannot_open(tmp_path: Path, process_ring: None) -> None:
    meta = MetaData()
    people = Table(
        "people",
        meta,
        Column("id", String(8), primary_key=True),
        Column("name", crypto.EncryptedText("people.name")),
    )
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        assert await crypto.key_usage(db, meta) == []
        async with db.unit_of_work() as uow:
            crypto.configure_keys(ring("k1"))
            await uow.session.execute(insert(people), [{"id": "a", "name": "甲"}])
            crypto.configure_keys(ring("k1", "k22"))
            await uow.session.execute(
                insert(people), [{"id": f"b{i}", "name": "乙"} for i in range(3)]
            )
            await uow.session.execute(insert(people).values(id="n", name=None))
            for i, raw in enumerate(["李四", "enc:v1:k1", "enc:v1:"]):  # not sealed
                await uow.session.execute(
                    text("INSERT INTO people (id, name) VALUES (:id, :raw)"),
                    {"id": f"p{i}", "raw": raw},
                )
        usage = await crypto.key_usage(db, meta)
        assert [(u.context, u.kid, u.rows) for u in usage] == [
            ("people.name", None, 3),
            ("people.name", "k1", 1),
            ("people.name", "k22", 3),
        ]
        assert usage[1].sample.startswith("enc:v1:k1:")
        assert crypto.rows_by_kid(usage) == {"k1": 1, "k22": 3}
        assert crypto.unreadable(usage, ring("k1", "k22")) == {}
        assert crypto.unreadable(usage, ring("k22")) == {"k1": "missing"}
        other_k1 = crypto.KeyRing([("k1", b"x" * 32), ("k22", b"k22".ljust(32, b"\0"))])
        assert crypto.unreadable(usage, other_k1) == {"k1": "different key"}
    finally:
        await db.dispose()


async def test_rotation_can_be_stopped_between_batches(tmp_path: Path, process_ring: None) -> None:
    meta = MetaData()
    people = Table(
        "people",
        meta,
        Column("id", String(8), primary_key=True),
        Column("name", crypto.EncryptedText("people.name")),
    )
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        crypto.configure_keys(ring("k1"))
        async with db.unit_of_work() as uow:
            await uow.session.execute(
                insert(people), [{"id": f"p{i}", "name": "张"} for i in range(5)]
            )
        calls = 0

        async def before_batch() -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("a process without k2 started")

        with pytest.raises(RuntimeError, match="without k2"):
            await crypto.rotate_keys(
                db, meta, ring("k1", "k2"), batch_size=2, before_batch=before_batch
            )
        usage = await crypto.key_usage(db, meta)
        assert crypto.rows_by_kid(usage) == {"k1": 3, "k2": 2}  # the first batch only
    finally:
        await db.dispose()
