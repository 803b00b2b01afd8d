"""The privacy notice is rendered from the data map, so it lists every declared column."""

from __future__ import annotations

import re

import httpx

from growthloop.all_models import metadata
from growthloop.analytics.rows import EVENT_DATA_MAP
from growthloop.core.models import Personal, Retention, pii_of
from growthloop.core.runtime import Runtime
from tests.helpers import assert_error, make_shop


async def test_the_notice_lists_every_declared_field(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    r = await client.get("/v1/privacy/notice")
    assert r.status_code == 200, r.text
    notice = r.json()
    listed = {f for item in notice["items"] for f in item["fields"]}
    declared = {
        f"{t.name}.{c.name}"
        for t in metadata.sorted_tables
        for c in t.columns
        if isinstance(pii_of(c), Personal) and t.name not in ("admin_users", "merchants")
    }
    assert declared <= listed
    assert {"events.distinct_id", "events.properties"} <= listed  # the event store's part
    assert not any(f.startswith("admin_users.") for f in listed)  # staff are not members
    assert not any(f.startswith("merchants.") for f in listed)  # nor is the shop's contact
    for item in notice["items"]:
        assert item["purpose"] and item["retention"] and item["basis_label"]
    guide = {g["information"]: g for g in notice["platform_guide"]}
    assert guide["位置信息"]["separate_consent"] is True
    assert guide["手机号"]["consent"] == "phone"
    assert notice["text"].startswith("隐私政策")


# A Latin word (two letters or more) in the Chinese notice: English leaking into it.
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


async def test_the_notice_is_chinese_and_names_the_merchant(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt, name="示例茶饮")
    r = await client.get(f"/v1/privacy/notice?merchant_id={shop.merchant_id}")
    assert r.status_code == 200, r.text
    notice = r.json()
    name = notice["merchant"]
    assert name.startswith("示例茶饮")  # make_shop numbers its shops
    assert notice["text"].startswith("隐私政策（版本 ")
    assert f"{name}（以下简称“我们”）" in notice["text"]
    assert LATIN_WORD.findall(notice["text"]) == []
    for item in notice["items"]:
        assert LATIN_WORD.findall(item["purpose"] + item["retention"]) == [], item
        assert item["purpose_en"]  # the declaration's English, for integrators
    # The column declarations are where the Chinese comes from: each carries its own.
    r = await client.get("/v1/privacy/notice")
    assert r.json()["merchant"] is None
    assert r.json()["text"].startswith("隐私政策（版本 ")
    assert "我们在您使用小程序时" in r.json()["text"]


async def test_an_unknown_merchant_has_no_notice(client: httpx.AsyncClient, rt: Runtime) -> None:
    r = await client.get("/v1/privacy/notice?merchant_id=01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert_error(r, 404, "merchant_not_found")
    r = await client.get("/v1/privacy/notice?merchant_id=nope")
    assert_error(r, 422)


def test_every_declaration_carries_its_chinese_text() -> None:
    declared = [pii_of(c) for t in metadata.sorted_tables for c in t.columns]
    declared += list(EVENT_DATA_MAP.values())
    personal = [p for p in declared if isinstance(p, Personal)]
    assert personal
    for p in personal:
        assert re.search(r"[\u4e00-\u9fff]", p.purpose_zh), p
        assert LATIN_WORD.findall(p.purpose_zh + p.retention.zh) == [], p
    assert {r: r.zh for r in Retention}  # every retention has its Chinese
