"""Rows that share their measures through a base keep the keys the API always gave, in
that order: the row's own key first (Pydantic lists a base's fields before a subclass's)."""

from __future__ import annotations

from growthloop.analytics.queries import MEASURE_NAMES
from growthloop.analytics.schemas import DaySummary, PlatformRow

MEASURES = [*MEASURE_NAMES, "conversion_rate"]  # in the order the queries compute them


def test_a_days_summary_leads_with_its_date() -> None:
    assert list(DaySummary.model_fields) == ["date", *MEASURES]


def test_a_platforms_row_leads_with_its_platform() -> None:
    assert list(PlatformRow.model_fields) == ["platform", *MEASURES, "aov"]
