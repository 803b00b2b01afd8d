from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

from growthloop.core.schemas import Strict


class IngestEventIn(BaseModel):
    event: str = Field(max_length=200, examples=["page_view"])
    distinct_id: str = Field(max_length=200, examples=["oXyz-openid-or-device-id"])
    time: str | None = Field(None, description="ISO 8601 with offset, or epoch ms")
    properties: dict[str, Any] | None = None
    uuid: str | None = Field(None, max_length=128, description="deduplicates retries")


class IngestBatchIn(BaseModel):
    events: list[IngestEventIn] = Field(max_length=10_000)
    api_key: str | None = None
    sent_at: str | None = Field(None, description="when the client sent the batch")


class RejectedEvent(BaseModel):
    index: int
    code: str
    message: str


class IngestOut(BaseModel):
    accepted: int
    rejected: list[RejectedEvent]
    duplicates: int = 0
    dropped: int = Field(
        0,
        description="events from known bots, accepted and not stored: crawlers, headless "
        "browsers and monitors; on the SDK-compatible endpoints also curl, wget, HTTPie and "
        "python-requests (on /v1/ingest/batch they are integrators' scripts and are stored)",
    )
    refused: int = Field(
        0, description="events of members who refused analytics, accepted and not stored"
    )


# ---- queries -------------------------------------------------------------------------

PropertyKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Scalar = Annotated[str, StringConstraints(max_length=200)] | int | bool
Where = dict[PropertyKey, Scalar | Annotated[list[Scalar], Field(max_length=50)]]
EventName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class DateRange(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date = Field(alias="from", description="first local day (merchant timezone)")
    to: date = Field(description="last local day, inclusive")


class StepIn(Strict):
    event: EventName
    where: Where | None = None


class FunnelIn(DateRange):
    steps: list[StepIn] = Field(min_length=2, max_length=10)
    window_hours: int = Field(ge=1, le=24 * 90)
    breakdown: PropertyKey | None = Field(
        None, description="platform, channel, page, share_code or any property"
    )
    list_dropped: bool = Field(False, description="list up to 100 people who left at each step")


class RetentionIn(DateRange):
    start_event: EventName
    return_event: EventName
    period: Literal["day", "week"]
    periods: int = Field(ge=1, le=90)


class TrendsIn(DateRange):
    event: EventName
    math: Literal["count", "people"] = "count"
    interval: Literal["day", "week"] = "day"
    breakdown: PropertyKey | None = None
    where: Where | None = None


class AttributionIn(DateRange):
    by: Literal["channel", "platform", "share_code"] = "channel"
    model: Literal["first_touch", "last_touch"] = "last_touch"
    lookback_days: int = Field(30, ge=1, le=90)


class QueryWarning(BaseModel):
    """Something about the question worth knowing beside its answer."""

    code: Literal["unknown_event"] = Field(
        description="unknown_event: no event of this name was ever recorded for the merchant "
        "and it is not a business event (docs/events.md), so it counts nothing; a typo?"
    )
    event: str = Field(description="the event name the query gave")
    message: str


Warnings = Annotated[
    list[QueryWarning],
    Field(description="one per event the query names that was never seen; empty when none"),
]


class Measures(BaseModel):
    """What the overview measures of a day and the platform comparison of a platform
    (`analytics.queries.MEASURES`, and the rate of members who paid)."""

    active_members: int
    visitors: int
    new_members: int
    orders: int
    gmv: int
    paying_members: int
    refunds: int
    refund_amount: int
    conversion_rate: float


# Pydantic lists a model's fields base by base from the last base in the MRO: the key
# each row leads with is a base of its own, named after `Measures`, so it comes first.
class _Dated(BaseModel):
    date: date


class DaySummary(Measures, _Dated):
    pass


class OverviewOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    timezone: str
    active_members: int = Field(description="members (not anonymous devices) with any event")
    visitors: int = Field(description="people with any event, anonymous devices included")
    new_members: int
    orders: int = Field(description="paid orders")
    gmv: int = Field(description="fen paid")
    paying_members: int
    conversion_rate: float = Field(description="paying_members / active_members")
    aov: int = Field(description="gmv / orders, fen")
    repurchase_rate: float = Field(description="members with 2+ paid orders / paying members")
    refunds: int
    refund_amount: int
    by_day: list[DaySummary]


class FunnelStepOut(BaseModel):
    event: str
    count: int
    conversion_from_start: float
    conversion_from_previous: float
    dropped: int | None = None
    dropped_people: list[dict[str, str | None]] | None = None


class FunnelBreakdownOut(BaseModel):
    value: str | None
    steps: list[FunnelStepOut]


class FunnelOut(BaseModel):
    steps: list[FunnelStepOut]
    window_hours: int
    breakdown: list[FunnelBreakdownOut] | None = None
    warnings: Warnings


class CohortOut(BaseModel):
    start: date
    size: int
    returned: list[int]


class RetentionOut(BaseModel):
    start_event: str
    return_event: str
    period: str
    periods: int
    cohorts: list[CohortOut]
    warnings: Warnings


class TrendPoint(BaseModel):
    date: date
    value: int


class TrendSeries(BaseModel):
    breakdown: str | None
    total: int
    points: list[TrendPoint]


class TrendsOut(BaseModel):
    event: str
    math: str
    interval: str
    series: list[TrendSeries]
    warnings: Warnings


class AttributionRow(BaseModel):
    value: str | None = Field(description="null: no touch in the lookback (direct)")
    orders: int
    gmv: int
    buyers: int


class AttributionOut(BaseModel):
    by: str
    model: str
    lookback_days: int
    rows: list[AttributionRow]


class _OnPlatform(BaseModel):
    platform: str


class PlatformRow(Measures, _OnPlatform):
    aov: int


class PlatformsOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    platforms: list[PlatformRow]


# ---- alerts --------------------------------------------------------------------------

Metric = Literal[
    "active_members",
    "visitors",
    "new_members",
    "orders",
    "gmv",
    "paying_members",
    "refunds",
    "refund_amount",
]


class AlertRuleIn(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    metric: Metric
    period: Literal["day", "hour"] = "day"
    kind: Literal["threshold", "anomaly"]
    direction: Literal["below", "above", "both"] = "below"
    threshold: int | None = Field(None, ge=0, le=10**13, description="threshold rules")
    deviation_percent: int | None = Field(
        None, ge=1, le=1000, description="anomaly rules: how far from the 4-week baseline"
    )
    min_expected: int = Field(
        0, ge=0, le=10**13, description="anomaly rules: ignore baselines smaller than this"
    )
    webhook_url: HttpUrl | None = Field(None, description="POSTed when the rule fires")

    @model_validator(mode="after")
    def _kind_needs_its_fields(self) -> AlertRuleIn:
        if self.kind == "threshold":
            if self.threshold is None:
                raise ValueError("a threshold rule needs `threshold`")
            if self.direction == "both":
                raise ValueError("a threshold rule is `below` or `above`")
        elif self.deviation_percent is None:
            raise ValueError("an anomaly rule needs `deviation_percent`")
        if self.webhook_url is not None and self.webhook_url.scheme not in ("http", "https"):
            raise ValueError("the webhook must be an http(s) URL")
        return self


class AlertRuleOut(BaseModel):
    id: str
    name: str
    metric: str
    period: str
    kind: str
    direction: str
    threshold: int | None
    deviation_percent: int | None
    min_expected: int
    webhook_url: str | None
    enabled: bool
    created_at: datetime


class AlertRuleCreatedOut(AlertRuleOut):
    webhook_secret: str = Field(
        description="signs each webhook: X-Growthloop-Signature = sha256=HMAC(secret, body); "
        "shown only now"
    )


class AlertOut(BaseModel):
    id: str
    rule_id: str
    period_start: datetime
    metric: str
    value: int = Field(description="the metric over the period: fen for gmv and refund_amount")
    expected: int | float | None = Field(
        description="anomaly rules: the baseline, the mean of the same period of the previous "
        "weeks; whole fen for money metrics, a mean of counts otherwise"
    )
    message: str
    fired_at: datetime
    webhook_status: str
    webhook_attempts: int
