"""The dashboard's queries (admin, `analytics.read`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.analytics import alerts, queries, service
from growthloop.analytics.models import AlertRule
from growthloop.analytics.schemas import (
    AlertOut,
    AlertRuleCreatedOut,
    AlertRuleIn,
    AlertRuleOut,
    AttributionIn,
    AttributionOut,
    DateRange,
    FunnelIn,
    FunnelOut,
    OverviewOut,
    PlatformsOut,
    RetentionIn,
    RetentionOut,
    TrendsIn,
    TrendsOut,
)
from growthloop.core.auth import AnalyticsReader, MarketingWriter, SessionDep
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.schemas import Id

router = APIRouter(route_class=UnitOfWorkRoute, tags=["analytics"])

Query_ = Callable[..., Awaitable[dict[str, Any]]]
_DATES = frozenset(DateRange.model_fields)  # a question's span, not an option of its query


async def _answer(
    session: AsyncSession,
    merchant_id: str,
    span: tuple[date | None, date | None],
    query: Query_,
    named: list[str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The query's answer over the checked span; with `warnings` about the events in
    `named` that were never seen, when the query names events."""
    scope = await service.query_scope(session, merchant_id, *span)
    answer = await query(*scope, **options)
    if named is None:
        return answer
    store = scope[0]
    return {**answer, "warnings": await service.event_warnings(store, merchant_id, named)}


async def _answer_to(
    session: AsyncSession,
    merchant_id: str,
    body: DateRange,
    query: Query_,
    named: list[str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The answer to a posted question: the query's options are the body's fields beside
    its dates, by the same names (`overrides` replace those the query takes otherwise)."""
    options = {f: getattr(body, f) for f in type(body).model_fields if f not in _DATES}
    span = (body.from_, body.to)
    return await _answer(session, merchant_id, span, query, named, **(options | overrides))


@router.get("/v1/admin/analytics/overview", response_model=OverviewOut)
async def overview(
    session: SessionDep,
    admin: AnalyticsReader,
    from_: date | None = Query(None, alias="from", description="default: 29 days before `to`"),
    to: date | None = Query(None, description="default: today (merchant timezone)"),
) -> dict[str, Any]:
    return await _answer(session, admin.merchant_id, (from_, to), queries.overview)


@router.get("/v1/admin/analytics/platforms", response_model=PlatformsOut)
async def platforms(
    session: SessionDep,
    admin: AnalyticsReader,
    from_: date | None = Query(None, alias="from"),
    to: date | None = Query(None),
) -> dict[str, Any]:
    return await _answer(session, admin.merchant_id, (from_, to), queries.platforms)


@router.post("/v1/admin/analytics/trends", response_model=TrendsOut)
async def trends(body: TrendsIn, session: SessionDep, admin: AnalyticsReader) -> dict[str, Any]:
    """Event names: the business events of docs/events.md and whatever the SDKs send; a
    name never seen for the merchant gets an `unknown_event` warning."""
    return await _answer_to(session, admin.merchant_id, body, queries.trends, [body.event])


@router.post("/v1/admin/analytics/funnel", response_model=FunnelOut)
async def funnel(body: FunnelIn, session: SessionDep, admin: AnalyticsReader) -> dict[str, Any]:
    """A step naming an event never seen for the merchant gets an `unknown_event` warning."""
    steps = [(s.event, s.where) for s in body.steps]
    named = [s.event for s in body.steps]
    return await _answer_to(session, admin.merchant_id, body, queries.funnel, named, steps=steps)


@router.post("/v1/admin/analytics/retention", response_model=RetentionOut)
async def retention(
    body: RetentionIn, session: SessionDep, admin: AnalyticsReader
) -> dict[str, Any]:
    """An event never seen for the merchant gets an `unknown_event` warning."""
    named = [body.start_event, body.return_event]
    return await _answer_to(session, admin.merchant_id, body, queries.retention, named)


@router.post("/v1/admin/analytics/attribution", response_model=AttributionOut)
async def attribution(
    body: AttributionIn, session: SessionDep, admin: AnalyticsReader
) -> dict[str, Any]:
    return await _answer_to(session, admin.merchant_id, body, queries.attribution)


# ---- alerts --------------------------------------------------------------------------


def _rule_out(rule: AlertRule) -> AlertRuleOut:
    return AlertRuleOut.model_validate(rule, from_attributes=True)


@router.post("/v1/admin/analytics/alert-rules", response_model=AlertRuleCreatedOut, status_code=201)
async def create_alert_rule(
    body: AlertRuleIn, session: SessionDep, admin: MarketingWriter
) -> AlertRuleCreatedOut:
    rule = await alerts.create_rule(session, admin.merchant_id, admin.admin_id, body)
    return AlertRuleCreatedOut.model_validate(rule, from_attributes=True)


@router.get("/v1/admin/analytics/alert-rules", response_model=Page[AlertRuleOut])
async def list_alert_rules(session: SessionDep, admin: AnalyticsReader) -> Page[AlertRuleOut]:
    rules = await alerts.rules(session, admin.merchant_id)
    return Page(items=[_rule_out(r) for r in rules], next_cursor=None)


@router.delete("/v1/admin/analytics/alert-rules/{rule_id}", status_code=204)
async def delete_alert_rule(rule_id: Id, session: SessionDep, admin: MarketingWriter) -> Response:
    await alerts.delete_rule(session, admin.merchant_id, admin.admin_id, rule_id)
    return Response(status_code=204)


@router.post("/v1/admin/analytics/alert-rules/{rule_id}/evaluate", response_model=AlertOut | None)
async def evaluate_alert_rule(
    rule_id: Id, session: SessionDep, admin: MarketingWriter
) -> AlertOut | None:
    """Judge the rule's latest complete period now (the worker does it by itself); the
    alert it fires, or null when the metric is within bounds or it already fired."""
    record = await alerts.evaluate_now(session, admin.merchant_id, rule_id)
    return AlertOut.model_validate(record, from_attributes=True) if record else None


@router.get("/v1/admin/analytics/alerts", response_model=Page[AlertOut])
async def list_alerts(session: SessionDep, page: PageDep, admin: AnalyticsReader) -> Page[AlertOut]:
    rows, cursor = await alerts.alerts_page(session, admin.merchant_id, page)
    return Page(
        items=[AlertOut.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor
    )
