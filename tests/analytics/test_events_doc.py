"""docs/events.md documents every business event analytics records, from the registry the
subscriptions are wired from (`BUSINESS_EVENTS`): a name added there without its row here
fails, and so does a row for a name that is no longer recorded or whose amount is wrong."""

from __future__ import annotations

import re
from pathlib import Path

from growthloop.analytics.events import BUSINESS_EVENTS, RECORDED_AS

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
# | `order.paid` | when | amount | properties |
ROW = re.compile(r"^\| `([a-z_]+\.[a-z_]+)` \|(.*)\|\s*$")


def _rows() -> dict[str, list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Business events", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is documented twice"
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_every_business_event_is_documented_with_its_amount() -> None:
    rows = _rows()
    assert sorted(rows) == sorted(BUSINESS_EVENTS)
    for name, amount_key in BUSINESS_EVENTS.items():
        when, amount, properties = rows[name]
        assert when and properties, name
        expected = f"`{amount_key}`" if amount_key else "—"
        assert amount == expected, (name, amount)
    for name, stored in RECORDED_AS.items():
        assert f"recorded as `{stored}`" in rows[name][0], name


def test_every_recorded_name_is_emitted_by_a_domain() -> None:
    """No row documents an event nothing emits: each name is spelled in a domain's code."""
    src = Path(__file__).resolve().parents[2] / "src" / "growthloop"
    code = "\n".join(
        p.read_text(encoding="utf-8")
        for p in src.rglob("*.py")
        if "analytics" not in p.parts and "demo" not in p.parts
    )
    missing = [name for name in BUSINESS_EVENTS if f'"{name}"' not in code]
    assert missing == []
