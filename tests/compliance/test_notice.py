"""The privacy notice is rendered from the data map, so it lists every declared column."""

from __future__ import annotations

import httpx

from growthloop.all_models import metadata
from growthloop.core.models import Personal, pii_of
from growthloop.core.runtime import Runtime


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
        if isinstance(pii_of(c), Personal) and t.name != "admin_users"
    }
    assert declared <= listed
    assert {"events.distinct_id", "events.properties"} <= listed  # the event store's part
    assert not any(f.startswith("admin_users.") for f in listed)  # staff are not members
    for item in notice["items"]:
        assert item["purpose"] and item["retention"] and item["basis_label"]
    guide = {g["information"]: g for g in notice["platform_guide"]}
    assert guide["位置信息"]["separate_consent"] is True
    assert guide["手机号"]["consent"] == "phone"
    assert notice["text"].startswith("隐私政策")
