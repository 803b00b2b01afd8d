"""The dashboard's queries (admin, `analytics.read`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.analytics import queries, service
from growthloop.analytics.errors import InvalidRange
from growthloop.analytics.schemas import (
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
from growthloop.core.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["analytics"])

MAX_DAYS = 366
Reader = require(Permission.ANALYTICS_READ)


async def _span(
    session: AsyncSession, merchant_id: str, first: date | None, last: date | None
) -> queries.Span:
    tz = await session.info["merchants"].timezone(session, merchant_id)
    clock = session.info["clock"]
    assert isinstance(clock, Clock)
    last = last or clock.today(tz)
    first = first or last - timedelta(days=29)
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
    span = await _span(session, admin.merchant_id, from_, to)
    return await queries.overview(service.pipeline_of(session).store, admin.merchant_id, span)


@router.get("/v1/admin/analytics/platforms", response_model=PlatformsOut)
async def platforms(
    session: SessionDep,
    from_: date | None = Query(None, alias="from"),
    to: date | None = Query(None),
    admin: AdminPrincipal = Reader,
) -> dict[str, Any]:
    span = await _span(session, admin.merchant_id, from_, to)
    return await queries.platforms(service.pipeline_of(session).store, admin.merchant_id, span)


@router.post("/v1/admin/analytics/trends", response_model=TrendsOut)
async def trends(
    body: TrendsIn, session: SessionDep, admin: AdminPrincipal = Reader
) -> dict[str, Any]:
    span = await _span(session, admin.merchant_id, body.from_, body.to)
    return await queries.trends(
        service.pipeline_of(session).store,
        admin.merchant_id,
        span,
        event=body.event,
        math=body.math,
        interval=body.interval,
        breakdown=body.breakdown,
        where=body.where,
    )


@router.post("/v1/admin/analytics/funnel", response_model=FunnelOut)
async def funnel(
    body: FunnelIn, session: SessionDep, admin: AdminPrincipal = Reader
) -> dict[str, Any]:
    span = await _span(session, admin.merchant_id, body.from_, body.to)
    return await queries.funnel(
        service.pipeline_of(session).store,
        admin.merchant_id,
        span,
        steps=[(s.event, s.where) for s in body.steps],
        window_hours=body.window_hours,
        breakdown=body.breakdown,
        list_dropped=body.list_dropped,
    )


@router.post("/v1/admin/analytics/retention", response_model=RetentionOut)
async def retention(
    body: RetentionIn, session: SessionDep, admin: AdminPrincipal = Reader
) -> dict[str, Any]:
    span = await _span(session, admin.merchant_id, body.from_, body.to)
    return await queries.retention(
        service.pipeline_of(session).store,
        admin.merchant_id,
        span,
        start_event=body.start_event,
        return_event=body.return_event,
        period=body.period,
        periods=body.periods,
    )


@router.post("/v1/admin/analytics/attribution", response_model=AttributionOut)
async def attribution(
    body: AttributionIn, session: SessionDep, admin: AdminPrincipal = Reader
) -> dict[str, Any]:
    span = await _span(session, admin.merchant_id, body.from_, body.to)
    return await queries.attribution(
        service.pipeline_of(session).store,
        admin.merchant_id,
        span,
        by=body.by,
        model=body.model,
        lookback_days=body.lookback_days,
    )
