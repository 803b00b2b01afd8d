"""Name, birthday, phone and shipping contact: sealed in the database, masked for staff,
revealed only to the roles that need them and then audited, rotated by the CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from growthloop.core import crypto
from growthloop.core.config import DEV_SECRET
from growthloop.core.runtime import Runtime
from tests.alliance.support import member_id, verify_phone
from tests.helpers import Shop, assert_error, make_shop
from tests.mall.support import earn, program, redeem, reward
from tests.processes import BIN, run_cli

NICKNAME = "隐私测试员Zq7"
PHONE = "13987650321"
BIRTHDAY = "1991-07-23"
SHIPPING = {"name": "欧阳锋华", "phone": "13566778899", "address": "浙江省杭州市西湖区文三路 77 号"}
MASKED = {"name": "欧*", "phone": "135****8899", "address": "浙江省杭州市****"}


async def _raw(rt: Runtime, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with rt.db.unit_of_work(write=False) as uow:
        return [tuple(row) for row in await uow.session.execute(text(sql), params)]


async def _database_bytes(rt: Runtime) -> bytes:
    async with rt.db.engine.connect() as conn:
        await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    root = rt.settings.data_dir
    return b"".join(p.read_bytes() for p in root.glob("growthloop.db*") if p.is_file())


def _sealed(value: object, *plaintexts: str) -> bool:
    return (
        isinstance(value, str)
        and value.startswith("enc:v1:")
        and not any(p in value for p in plaintexts)
    )


async def test_profile_and_phone_are_encrypted_at_rest(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    r = await client.patch(
        "/v1/me/profile", json={"nickname": NICKNAME, "birthday": BIRTHDAY}, headers=member
    )
    assert r.status_code == 200, r.text
    assert await verify_phone(client, member, "+86 " + PHONE) == "139****0321"
    me = await member_id(client, member)

    # the member sees their own data in full
    r = await client.get("/v1/me", headers=member)
    assert (r.json()["nickname"], r.json()["birthday"]) == (NICKNAME, BIRTHDAY)

    [(nickname, birthday, phone, phone_hash, month_day)] = await _raw(
        rt,
        "SELECT nickname, birthday, phone_encrypted, phone_hash, birthday_month_day "
        "FROM members WHERE id = :id",
        id=me,
    )
    assert _sealed(nickname, NICKNAME)
    assert _sealed(birthday, BIRTHDAY, "1991")
    assert _sealed(phone, PHONE)
    assert phone_hash == crypto.keyed_hash(rt.settings.secret_key, PHONE)
    assert month_day == 723  # the birthday sweep's index stays in clear
    ring = crypto.current_keys()
    assert ring.decrypt(phone, "members.phone_encrypted") == PHONE
    assert ring.decrypt(birthday, "members.birthday") == BIRTHDAY

    if rt.db.dialect == "sqlite":
        data = await _database_bytes(rt)
        for plain in (NICKNAME, PHONE):
            assert plain.encode() not in data, plain

    # withdrawing the phone removes the number as well as its hash
    r = await client.delete("/v1/me/phone", headers=member)
    assert r.status_code == 204, r.text
    assert await _raw(
        rt, "SELECT phone_encrypted, phone_hash FROM members WHERE id = :id", id=me
    ) == [(None, None)]


async def _gift_redeemed(client: httpx.AsyncClient, rt: Runtime) -> tuple[Shop, str, str]:
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    await earn(shop, member, 500)
    gift = await reward(shop, name="定制帆布袋", points_cost=100, stock=5)
    r = await redeem(shop, member, gift["id"], shipping=SHIPPING)
    assert r.status_code == 201, r.text
    assert r.json()["shipping"] == SHIPPING  # the member's own view: in full
    return shop, r.json()["id"], await member_id(client, member)


async def _reveals(rt: Runtime) -> list[tuple[Any, ...]]:
    return await _raw(
        rt,
        "SELECT actor_id, subject_id, member_id, details FROM audit_log "
        "WHERE action = 'pii.reveal' ORDER BY created_at, id",
    )


async def test_shipping_contact_is_encrypted_and_masked_for_staff(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop, redemption_id, _ = await _gift_redeemed(client, rt)
    [(name, phone, address)] = await _raw(
        rt,
        "SELECT ship_name, ship_phone, ship_address FROM mall_redemptions WHERE id = :id",
        id=redemption_id,
    )
    assert _sealed(name, SHIPPING["name"])
    assert _sealed(phone, SHIPPING["phone"])
    assert _sealed(address, SHIPPING["address"], "杭州")
    if rt.db.dialect == "sqlite":
        data = await _database_bytes(rt)
        for plain in SHIPPING.values():
            assert plain.encode() not in data, plain

    for headers in (shop.admin, await shop.staff("operator"), await shop.staff("analyst")):
        r = await client.get("/v1/admin/mall/redemptions", headers=headers)
        assert r.status_code == 200, r.text
        [item] = r.json()["items"]
        assert item["shipping"] == MASKED
    # the fulfilment answers are masked too
    r = await client.post(
        f"/v1/admin/mall/redemptions/{redemption_id}/fulfil",
        json={"tracking_no": "SF100200300"},
        headers=shop.admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["shipping"] == MASKED
    assert await _reveals(rt) == []


async def test_revealed_to_the_roles_that_ship_or_handle_privacy_and_audited(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop, redemption_id, member = await _gift_redeemed(client, rt)
    path = "/v1/admin/mall/redemptions?reveal=true"

    analyst = await shop.staff("analyst")
    assert_error(await client.get(path, headers=analyst), 403, "forbidden")
    assert await _reveals(rt) == []

    for role in ("owner", "operator", "support"):
        headers = shop.admin if role == "owner" else await shop.staff(role)
        r = await client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        [item] = r.json()["items"]
        assert item["shipping"] == SHIPPING, role
        admin_id = (await client.get("/v1/admin/me", headers=headers)).json()["admin"]["id"]
        actor, subject, whose, details = (await _reveals(rt))[-1]
        assert (actor, subject, whose) == (admin_id, redemption_id, member)
        details = json.loads(details) if isinstance(details, str) else details
        assert details["fields"] == ["ship_name", "ship_phone", "ship_address"]
        assert details["role"] == role
        assert not any(v in json.dumps(details, ensure_ascii=False) for v in SHIPPING.values())
    assert len(await _reveals(rt)) == 3


def _cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GROWTHLOOP_")}
    environ.update({"GROWTHLOOP_DATA_DIR": str(data_dir), **env})
    return subprocess.run(  # noqa: S603
        [str(BIN), *args], env=environ, capture_output=True, text=True, timeout=120, check=False
    )


def test_rotate_keys_command(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "migrate").returncode == 0
    derived = crypto.key_ring(None, DEV_SECRET)  # what a data dir without keys is sealed with
    with sqlite3.connect(tmp_path / "growthloop.db") as db:
        db.execute(
            "INSERT INTO merchants (id, name, timezone, ingest_key, created_at) "
            "VALUES ('M1', '茶饮店', 'Asia/Shanghai', 'ik1', '2026-01-01 00:00:00')"
        )
        for i in range(3):
            db.execute(
                "INSERT INTO members (id, merchant_id, status, signup_platform, created_at, "
                "nickname, birthday) VALUES (?, 'M1', 'active', 'dev', '2026-01-01 00:00:00', "
                "?, ?)",
                (
                    f"U{i}",
                    derived.encrypt(f"{NICKNAME}{i}", "members.nickname"),
                    derived.encrypt(BIRTHDAY, "members.birthday"),
                ),
            )
        # a value written by hand, not sealed: the command seals it
        db.execute(
            "INSERT INTO members (id, merchant_id, status, signup_platform, created_at, nickname)"
            " VALUES ('U9', 'M1', 'active', 'dev', '2026-01-01 00:00:00', '手写昵称')"
        )

    key = crypto.new_key()
    done = _cli(
        tmp_path, "compliance", "rotate-keys", "--batch-size", "2", GROWTHLOOP_PII_KEYS=f"k1:{key}"
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["key_id"] == "k1"
    assert out["columns"]["members.nickname"] == {"rotated": 3, "sealed": 1, "current": 0}
    assert out["columns"]["members.birthday"] == {"rotated": 3, "sealed": 0, "current": 0}
    assert out["columns"]["mall_redemptions.ship_name"] == {"rotated": 0, "sealed": 0, "current": 0}

    ring = crypto.key_ring(f"k1:{key}", DEV_SECRET)
    with sqlite3.connect(tmp_path / "growthloop.db") as db:
        rows = db.execute("SELECT id, nickname FROM members ORDER BY id").fetchall()
    assert all(n.startswith("enc:v1:k1:") for _, n in rows)
    assert [ring.decrypt(n, "members.nickname") for _, n in rows] == [
        f"{NICKNAME}0",
        f"{NICKNAME}1",
        f"{NICKNAME}2",
        "手写昵称",
    ]

    again = _cli(tmp_path, "compliance", "rotate-keys", GROWTHLOOP_PII_KEYS=f"k1:{key}")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["columns"]["members.nickname"] == {
        "rotated": 0,
        "sealed": 0,
        "current": 4,
    }
    # without k1 the values do not open, and the error says which key is missing
    lost = _cli(tmp_path, "compliance", "rotate-keys")
    assert lost.returncode != 0
    assert "'k1'" in lost.stderr and "GROWTHLOOP_PII_KEYS" in lost.stderr


async def test_a_value_sealed_with_a_key_this_server_lacks_is_a_503(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """The issue's lock-out: data re-sealed under k2 while this server runs without k2.
    Member login, the data export and the redemption lists answer 503 with a code that
    names the missing key, not 500; nothing is written by the refused requests."""
    saved = crypto.current_keys()
    try:
        crypto.configure_keys(crypto.key_ring(f"k2:{crypto.new_key()}", rt.settings.secret_key))
        shop = await make_shop(client, rt)
        await program(shop)
        member = await shop.member("keyless-member")
        r = await client.patch("/v1/me/profile", json={"nickname": NICKNAME}, headers=member)
        assert r.status_code == 200, r.text
        await earn(shop, member, 500)
        gift = await reward(shop, name="定制帆布袋", points_cost=100, stock=5)
        assert (await redeem(shop, member, gift["id"], shipping=SHIPPING)).status_code == 201
        [(nickname,)] = await _raw(rt, "SELECT nickname FROM members")
        assert nickname.startswith("enc:v1:k2:")
        written = (
            "SELECT (SELECT count(*) FROM audit_log), (SELECT count(*) FROM idempotency_keys), m.* "
            "FROM members m"
        )
        before = await _raw(rt, written)

        crypto.configure_keys(saved)  # this server: the derived k0 only, no k2
        responses = {
            "login": await client.post(
                "/v1/auth/login",
                json={"merchant_id": shop.merchant_id, "platform": "dev", "code": "keyless-member"},
            ),
            "me": await client.get("/v1/me", headers=member),
            "export": await client.post("/v1/me/data-export", headers=member),
            "admin redemptions": await client.get("/v1/admin/mall/redemptions", headers=shop.admin),
            "my redemptions": await client.get("/v1/me/mall/redemptions", headers=member),
        }
        for what, response in responses.items():
            error = assert_error(response, 503, "pii_key_unavailable")
            assert error["details"] == {"key_id": "k2"}, what
            assert error["message"] == (
                "Personal data is sealed with key id 'k2', which this server does not hold; "
                "try again later."
            ), what
        assert await _raw(rt, written) == before

        # another key under the id k2 (a typo in one process's settings): 503 too
        crypto.configure_keys(crypto.key_ring(f"k2:{crypto.new_key()}", rt.settings.secret_key))
        error = assert_error(await client.get("/v1/me", headers=member), 503, "pii_key_unavailable")
        assert error["details"] == {"key_id": "k2"}
        assert error["message"] == (
            "Personal data sealed with key id 'k2' does not open with this server's 'k2'; "
            "try again later."
        )
    finally:
        crypto.configure_keys(saved)
