"""The dashboard's queries (admin, `analytics.read`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.analytics import alerts, queries, service
from growthloop.analytics import repository as repo
from growthloop.analytics.backends.base import EventStore
from growthloop.analytics.errors import InvalidRange
from growthloop.analytics.models import AlertRule
from growthloop.analytics.schemas import (
    AlertOut,
    AlertRuleCreatedOut,
    AlertRuleIn,
    AlertRuleOut,
    AttributionIn,
    AttributionOut,
    FunnelIn,
    FunnelOut,
    OverviewOut,
    PlatformsOut,
    RetentionIn,
    RetentionOut,
    TrendsIn,
    TrendsOut,
)
from growthloop.core.auth import AdminPrincipal, Permission, SessionDep, require
from growthloop.core.clock import Clock
from growthloop.core.context import context_of
from growthloop.core.pagination import Page, PageDep, make_page
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.schemas import Id

router = APIRouter(route_class=UnitOfWorkRoute, tags=["analytics"])

MAX_DAYS = 366
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
Reader = require(Permission.ANALYTICS_READ)


async def _scope(
    session: AsyncSession, admin: AdminPrincipal, first: date | None, last: date | None
) -> tuple[EventStore, str, queries.Span]:
    """What every query takes: the event store, the caller's merchant, the checked span."""
    span = await _span(session, admin.merchant_id, first, last)
    return service.pipeline_of(session).store, admin.merchant_id, span


async def _span(
    session: AsyncSession, merchant_id: str, first: date | None, last: date | None
) -> queries.Span:
    tz = await context_of(session).merchants.timezone(session, merchant_id)
    clock = context_of(session).clock
    assert isinstance(clock, Clock)
    last = last or clock.today(tz)
    first = first or last - timedelta(days=29)
    for day in (first, last):
        if not EARLIEST <= day <= LATEST:
            raise InvalidRange("Dates must fall within the years 2000..2100.", date=str(day))
    if first > last:
        raise InvalidRange(
            "`from` must not be after `to`.", **{"from": str(first), "to": str(last)}
        )
    if (last - first).days >= MAX_DAYS:
        raise InvalidRange(f"A range covers at most {MAX_DAYS} days.", days=(last - first).days + 1)
    return queries.Span(first, last, tz)


@router.get("/v1/admin/analytics/overview", response_model=OverviewOut)
async def overview(
    session: SessionDep,
    from_: date | None = Query(None, alias="from", description="default: 29 days before `to`"),
    to: date | None = Query(None, description="default: today (merchant timezone)"),
    admin: AdminPrincipal = Reader,
) -> dict[str, Any]:
    return await queries.overview(*await _scope(session, admin, from_, to))


@router.get("/v1/admin/analytics/platforms", response_model=PlatformsOut)
async def platforms(
    session: SessionDep,
    from_: date | None = Query(None, alias="from"),
    to: date | None = Query(None),
    admin: AdminPrincipal = Reader,
) -> dict[str, Any]:
    return await queries.platforms(*await _scope(session, admin, from_, to))


async def _warned(
    scope: tuple[EventStore, str, queries.Span], answer: dict[str, Any], events: list[str]
) -> dict[str, Any]:
    """The answer and its `warnings` about the events it names."""
    store, merchant_id, _ = scope
    return {**answer, "warnings": await service.event_warnings(store, merchant_id, events)}


@router.post("/v1/admin/analytics/trends", response_model=TrendsOut)
async def trends(
    body: TrendsIn, session: SessionDep, admin: AdminPrincipal = Reader
) -> dict[str, Any]:
    """Event names: the business events of docs/events.md and whatever the SDKs send; a
    name never seen for the merchant gets an `unknown_event` warning."""
    scope = await _scope(session, admin, body.from_, body.to)
    answer = await queries.trends(
        *scope,
        event=body.event,
        math=body.math,
        interval=body.interval,
        breakdown=body.breakdown,
        where=body.where,
    )
    return await _warned(scope, answer, [body.event])


@router.post("/v1/admin/analytics/funnel", response_model=FunnelOut)
async def funnel(
    body: FunnelIn, session: SessionDep, admin: AdminPrincipal = Reader
) -> dict[str, Any]:
    """A step naming an event never seen for the merchant gets an `unknown_event` warning."""
    scope = await _scope(session, admin, body.from_, body.to)
    answer = await queries.funnel(
        *scope,
        steps=[(s.event, s.where) for s in body.steps],
        window_hours=body.window_hours,
        breakdown=body.breakdown,
        list_dropped=body.list_dropped,
    )
    return await _warned(scope, answer, [s.event for s in body.steps])


@router.post("/v1/admin/analytics/retention", response_model=RetentionOut)
async def retention(
    body: RetentionIn, session: SessionDep, admin: AdminPrincipal = Reader
) -> dict[str, Any]:
    """An event never seen for the merchant gets an `unknown_event` warning."""
    scope = await _scope(session, admin, body.from_, body.to)
    answer = await queries.retention(
        *scope,
        start_event=body.start_event,
        return_event=body.return_event,
        period=body.period,
        periods=body.periods,
    )
    return await _warned(scope, answer, [body.start_event, body.return_event])


@router.post("/v1/admin/analytics/attribution", response_model=AttributionOut)
async def attribution(
    body: AttributionIn, session: SessionDep, admin: AdminPrincipal = Reader
) -> dict[str, Any]:
    return await queries.attribution(
        *await _scope(session, admin, body.from_, body.to),
        by=body.by,
        model=body.model,
        lookback_days=body.lookback_days,
    )


# ---- alerts --------------------------------------------------------------------------

Writer = require(Permission.MARKETING_WRITE)


def _rule_out(rule: AlertRule) -> AlertRuleOut:
    return AlertRuleOut.model_validate(rule, from_attributes=True)


@router.post("/v1/admin/analytics/alert-rules", response_model=AlertRuleCreatedOut, status_code=201)
async def create_alert_rule(
    body: AlertRuleIn, session: SessionDep, admin: AdminPrincipal = Writer
) -> AlertRuleCreatedOut:
    rule = await alerts.create_rule(session, admin.merchant_id, admin.admin_id, body)
    return AlertRuleCreatedOut.model_validate(rule, from_attributes=True)


@router.get("/v1/admin/analytics/alert-rules", response_model=Page[AlertRuleOut])
async def list_alert_rules(
    session: SessionDep, admin: AdminPrincipal = Reader
) -> Page[AlertRuleOut]:
    rules = await repo.rules_of(session, admin.merchant_id)
    return Page(items=[_rule_out(r) for r in rules], next_cursor=None)


@router.delete("/v1/admin/analytics/alert-rules/{rule_id}", status_code=204)
async def delete_alert_rule(
    rule_id: Id, session: SessionDep, admin: AdminPrincipal = Writer
) -> Response:
    await alerts.delete_rule(session, admin.merchant_id, admin.admin_id, rule_id)
    return Response(status_code=204)


@router.post("/v1/admin/analytics/alert-rules/{rule_id}/evaluate", response_model=AlertOut | None)
async def evaluate_alert_rule(
    rule_id: Id, session: SessionDep, admin: AdminPrincipal = Writer
) -> AlertOut | None:
    """Judge the rule's latest complete period now (the worker does it by itself); the
    alert it fires, or null when the metric is within bounds or it already fired."""
    rule = await alerts.access_rule(session, admin.merchant_id, rule_id)
    tz = await context_of(session).merchants.timezone(session, admin.merchant_id)
    clock = context_of(session).clock
    record = await alerts.evaluate_rule(
        session, service.pipeline_of(session), rule, tz, clock.now()
    )
    return AlertOut.model_validate(record, from_attributes=True) if record else None


@router.get("/v1/admin/analytics/alerts", response_model=Page[AlertOut])
async def list_alerts(
    session: SessionDep, page: PageDep, admin: AdminPrincipal = Reader
) -> Page[AlertOut]:
    rows = await repo.alerts_page(session, admin.merchant_id, page.limit + 1, page.after_id)
    rows, cursor = make_page(rows, page)
    return Page(
        items=[AlertOut.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor
    )
