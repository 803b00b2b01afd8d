"""The settings cache (core/settings_cache.py): a merchant's settings that every order reads
are answered from memory, and every committed write to a watched model is seen by the next
read; the unit of work making a change reads its own change; a rolled-back change leaves
nothing behind; and no Core statement writes a watched table behind the session's back."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from growthloop.core.context import merchant_timezone
from growthloop.core.runtime import Runtime
from growthloop.core.settings_cache import cached_setting
from growthloop.identity.models import Merchant
from tests.campaigns.test_distribution import SETTINGS
from tests.campaigns.test_invites import _rule, _template
from tests.helpers import make_shop
from tests.loyalty.test_bulk import TIERS


async def _timezone(rt: Runtime, merchant_id: str) -> str:
    async with rt.db.unit_of_work(write=False) as uow:
        return await merchant_timezone(uow.session, merchant_id)


async def test_a_committed_timezone_change_is_read_at_once(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    assert await _timezone(rt, shop.merchant_id) == "Asia/Shanghai"
    assert await _timezone(rt, shop.merchant_id) == "Asia/Shanghai"  # kept
    r = await client.patch(
        "/v1/admin/merchant", json={"timezone": "Asia/Tokyo"}, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    assert await _timezone(rt, shop.merchant_id) == "Asia/Tokyo"


async def test_the_changing_unit_of_work_reads_its_change_and_a_rollback_leaves_none(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    assert await _timezone(rt, shop.merchant_id) == "Asia/Shanghai"  # kept
    async with rt.db.unit_of_work() as uow:
        merchant = await uow.session.get(Merchant, shop.merchant_id)
        assert merchant is not None
        merchant.timezone = "Europe/Paris"
        assert await merchant_timezone(uow.session, shop.merchant_id) == "Europe/Paris"
        await uow.session.flush()
        assert await merchant_timezone(uow.session, shop.merchant_id) == "Europe/Paris"
        uow.mark_rollback()
    assert await _timezone(rt, shop.merchant_id) == "Asia/Shanghai"


async def test_every_watched_write_is_seen_by_the_next_read(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    loads: list[int] = []

    async def load() -> int:
        loads.append(1)
        return len(loads)

    async def read() -> int:
        async with rt.db.unit_of_work(write=False) as uow:
            return await cached_setting(uow.session, shop.merchant_id, "probe", load)

    assert [await read(), await read()] == [1, 1]
    r = await client.put("/v1/admin/distribution", json=SETTINGS, headers=shop.admin)
    assert r.status_code == 200, r.text
    assert [await read(), await read()] == [2, 2]
    template = await _template(shop)
    await _rule(
        shop,
        name="首单有礼",
        trigger="first_order",
        invites_needed=1,
        inviter_reward={"coupon_template_id": template["id"]},
    )
    assert await read() == 3
    r = await client.put("/v1/admin/loyalty/program", json=TIERS, headers=shop.admin)
    assert r.status_code == 200, r.text
    assert await read() == 4
    other = await make_shop(client, rt)
    r = await client.put("/v1/admin/distribution", json=SETTINGS, headers=other.admin)
    assert r.status_code == 200, r.text
    assert await read() == 4  # another merchant's change


def test_no_core_statement_writes_a_watched_table() -> None:
    """The cache sees ORM writes only (after_flush): an `update(Merchant)` or raw SQL on
    these tables would change settings without a bump."""
    src = Path(__file__).resolve().parents[2] / "src" / "growthloop"
    models = r"(Merchant|DistributionSettings|InviteRule|Program)\b"
    tables = r"(merchants|distribution_settings|invite_rules|loyalty_programs)\b"
    core_write = re.compile(
        rf"\b(update|insert|delete)\({models}|(UPDATE|INSERT INTO|DELETE FROM) {tables}"
    )
    hits = [
        f"{path.relative_to(src)}:{n}"
        for path in src.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if core_write.search(line)
    ]
    assert hits == []
