"""Alerts: a rule watches one metric per local day or hour and fires when it crosses a
threshold, or strays from the same weekday (and hour) of the previous four weeks.

The worker evaluates each rule once per completed period (a few minutes after it ends, so
that the period's stragglers are in); the alert's unique (rule, period) key makes a second
evaluation, by this worker or another, fire nothing. A fired alert is a row operators list
and, when the rule has a webhook, a signed POST delivered after the commit and retried with
backoff until it is answered 2xx; a failed attempt is logged with the rule, the attempt,
the HTTP status and the next attempt. The sweeps that judge and deliver are in `tasks.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.analytics import repository as repo
from growthloop.analytics.errors import RuleNotFound
from growthloop.analytics.events import ALERT_FIRED
from growthloop.analytics.models import AlertRecord, AlertRule
from growthloop.analytics.pipeline import Pipeline, pipeline_of
from growthloop.analytics.queries import MEASURES, Span, local_midnight, overview
from growthloop.analytics.schemas import AlertRuleIn
from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.context import context_of, merchant_timezone, now, uow_of
from growthloop.core.ids import new_id
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import PageParams
from growthloop.core.sql import insert_unless_exists

log = logging.getLogger("growthloop.analytics")

METRICS = tuple(MEASURES)
MONEY_METRICS = frozenset({"gmv", "refund_amount"})  # integer fen; the others are counts
GRACE = timedelta(minutes=5)  # after a period ends, before it is judged
WEEKS_BACK = 4
MAX_WEBHOOK_ATTEMPTS = 6
WEBHOOK_TIMEOUT = 5.0


@dataclass(frozen=True)
class Judgement:
    period_start: datetime
    value: int
    expected: int | float | None  # whole fen for money metrics, a mean of counts otherwise
    fires: bool
    message: str


async def create_rule(
    session: AsyncSession, merchant_id: str, admin_id: str, body: AlertRuleIn
) -> AlertRule:
    rule = AlertRule(
        **body.model_dump(exclude={"webhook_url"}),  # the rule's columns, by the same names
        merchant_id=merchant_id,
        webhook_url=str(body.webhook_url) if body.webhook_url else None,
        webhook_secret=secrets.token_hex(24),
        enabled=True,
        created_at=now(session),
    )
    session.add(rule)
    await session.flush()
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        Action.ALERT_RULE_CREATE,
        subject_type="alert_rule",
        subject_id=rule.id,
        metric=rule.metric,
        kind=rule.kind,
        webhook=bool(rule.webhook_url),
    )
    return rule


async def _owned_rule(session: AsyncSession, merchant_id: str, rule_id: str) -> AlertRule:
    return await get_owned(session, AlertRule, rule_id, merchant_id, RuleNotFound(rule_id=rule_id))


async def delete_rule(session: AsyncSession, merchant_id: str, admin_id: str, rule_id: str) -> None:
    rule = await _owned_rule(session, merchant_id, rule_id)
    await session.delete(rule)
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        Action.ALERT_RULE_DELETE,
        subject_type="alert_rule",
        subject_id=rule_id,
    )


async def rules(session: AsyncSession, merchant_id: str) -> list[AlertRule]:
    """The merchant's rules, enabled or not, oldest first."""
    return await repo.rules_of(session, merchant_id)


async def alerts_page(
    session: AsyncSession, merchant_id: str, page: PageParams
) -> tuple[list[AlertRecord], str | None]:
    """The merchant's fired alerts, newest first."""
    return await repo.alerts_page(session, merchant_id, page)


# ---- judging -------------------------------------------------------------------------


def last_complete_period(rule: AlertRule, tz: str, now: datetime) -> datetime | None:
    """The start (UTC) of the latest period that ended at least GRACE ago."""
    local = (now - GRACE).astimezone(ZoneInfo(tz))
    if rule.period == "hour":
        current = local.replace(minute=0, second=0, microsecond=0)
        return (current - timedelta(hours=1)).astimezone(UTC)
    return local_midnight(local.date() - timedelta(days=1), tz)


async def _values(
    pipeline: Pipeline, rule: AlertRule, tz: str, starts: list[datetime]
) -> list[int]:
    """The rule's metric over each period starting at `starts` (hours or local days)."""
    if rule.period == "day":
        days = [s.astimezone(ZoneInfo(tz)).date() for s in starts]
        result = await overview(pipeline.store, rule.merchant_id, Span(min(days), max(days), tz))
        by_date = {d["date"]: int(d[rule.metric]) for d in result["by_day"]}
        return [by_date.get(d.isoformat(), 0) for d in days]
    return [await _hour_value(pipeline, rule, start) for start in starts]


async def _hour_value(pipeline: Pipeline, rule: AlertRule, start: datetime) -> int:
    d = pipeline.store.dialect
    measure = MEASURES[rule.metric]
    rows = await pipeline.store.query(
        rule.merchant_id,
        f"SELECT {measure} FROM hours WHERE hour >= {d.instant(start)} "  # noqa: S608
        f"AND hour < {d.instant(start + timedelta(hours=1))}",
    )
    return int(rows[0][0] or 0) if rows else 0


def judge(rule: AlertRule, start: datetime, value: int, history: list[int]) -> Judgement:
    label = f"{rule.name}: {rule.metric} = {value}"
    if rule.kind == "threshold":
        assert rule.threshold is not None
        fires = value < rule.threshold if rule.direction == "below" else value > rule.threshold
        word = "below" if rule.direction == "below" else "above"
        return Judgement(start, value, None, fires, f"{label}, {word} {rule.threshold}")
    expected = sum(history) / len(history) if history else 0.0
    if expected < max(rule.min_expected, 1e-9):
        return Judgement(start, value, expected, False, f"{label}, too little history")
    deviation = (value - expected) / expected * 100
    baseline: int | float
    if rule.metric in MONEY_METRICS:  # the mean to the fen, half up, in integers
        baseline = (2 * sum(history) + len(history)) // (2 * len(history))
        shown = str(baseline)
    else:
        baseline = round(expected, 2)
        shown = f"{expected:.1f}"
    limit = float(rule.deviation_percent or 0)
    fires = {
        "below": deviation <= -limit,
        "above": deviation >= limit,
        "both": abs(deviation) >= limit,
    }[rule.direction]
    message = (
        f"{label}, {deviation:+.0f}% against {shown} "
        f"(the same {'hour and weekday' if rule.period == 'hour' else 'weekday'} "
        f"of the previous {len(history)} weeks)"
    )
    return Judgement(start, value, baseline, fires, message)


async def evaluate_rule(
    session: AsyncSession, pipeline: Pipeline, rule: AlertRule, tz: str, now: datetime
) -> AlertRecord | None:
    start = last_complete_period(rule, tz, now)
    if start is None:
        return None
    if rule.kind == "anomaly":
        # Same weekday (and hour) 1..4 weeks back; in local time, so a DST change is moot.
        local = start.astimezone(ZoneInfo(tz))
        back = [(local - timedelta(weeks=w)).astimezone(UTC) for w in range(1, WEEKS_BACK + 1)]
    else:
        back = []
    values = await _values(pipeline, rule, tz, [start, *back])
    verdict = judge(rule, start, values[0], values[1:])
    if not verdict.fires:
        return None
    record = {
        "id": new_id(),
        "merchant_id": rule.merchant_id,
        "rule_id": rule.id,
        "period_start": start,
        "metric": rule.metric,
        "value": verdict.value,
        "expected": verdict.expected,
        "message": verdict.message,
        "fired_at": now,
        "webhook_status": "pending" if rule.webhook_url else "none",
        "webhook_attempts": 0,
        "next_attempt_at": now if rule.webhook_url else None,
    }
    if not await insert_unless_exists(session, AlertRecord, record, ["rule_id", "period_start"]):
        return None  # already fired for this period
    if rule.webhook_url:
        uow_of(session).after_commit(context_of(session).kick)
    return await session.get(AlertRecord, record["id"])


async def evaluate_now(session: AsyncSession, merchant_id: str, rule_id: str) -> AlertRecord | None:
    """Judge the rule's latest complete period now (the worker does it by itself): the
    alert it fires, or None when the metric is within bounds or it already fired."""
    rule = await _owned_rule(session, merchant_id, rule_id)
    tz = await merchant_timezone(session, merchant_id)
    return await evaluate_rule(session, pipeline_of(session), rule, tz, now(session))


async def enabled_rules(session: AsyncSession) -> list[tuple[AlertRule, str]]:
    """Every merchant's enabled rules, each with its merchant's timezone."""
    found = await repo.rules_of(session)
    zones: dict[str, str] = {}
    for rule in found:
        if rule.merchant_id not in zones:
            zones[rule.merchant_id] = await merchant_timezone(session, rule.merchant_id)
    return [(rule, zones[rule.merchant_id]) for rule in found]


# ---- webhooks ------------------------------------------------------------------------


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def alert_payload(record: AlertRecord, rule: AlertRule) -> dict[str, Any]:
    return {
        "id": record.id,
        "rule": {"id": rule.id, "name": rule.name, "metric": rule.metric, "kind": rule.kind},
        "merchant_id": record.merchant_id,
        "period": rule.period,
        "period_start": record.period_start.isoformat(),
        "value": int(record.value),  # a count, or fen
        "expected": record.expected,
        "message": record.message,
        "fired_at": record.fired_at.isoformat(),
    }


async def due_webhooks(session: AsyncSession, at: datetime, limit: int) -> list[str]:
    """The fired alerts whose webhook delivery is due at `at`, by id."""
    return [record.id for record in await repo.due_webhooks(session, at, limit)]


async def deliver(session: AsyncSession, pipeline: Pipeline, alert_id: str) -> str | None:
    """One attempt at delivering the alert to its rule's webhook: "sent", "retrying" (it
    failed and is tried again later, with backoff), "failed" (for good, after
    MAX_WEBHOOK_ATTEMPTS), or None when there is nothing to deliver."""
    record = await session.get(AlertRecord, alert_id)
    if record is None or record.webhook_status != "pending":
        return None
    rule = await repo.get_rule(session, record.rule_id)
    if rule is None or not rule.webhook_url:
        record.webhook_status = "none"
        return None
    body = json.dumps(alert_payload(record, rule), ensure_ascii=False).encode()
    status, error = await _post(pipeline, rule.webhook_url, body, rule.webhook_secret, record.id)
    record.webhook_attempts += 1
    record.last_error = error
    if error is None:
        record.webhook_status = "sent"
        record.next_attempt_at = None
        return "sent"
    if record.webhook_attempts >= MAX_WEBHOOK_ATTEMPTS:
        record.webhook_status = "failed"
        record.next_attempt_at = None
    else:
        record.next_attempt_at = now(session) + timedelta(minutes=2**record.webhook_attempts)
    gave_up = record.webhook_status == "failed"
    # Ids, counts and the status only: the URL may carry a token of the receiver's.
    log.log(
        logging.ERROR if gave_up else logging.WARNING,
        "alert webhook delivery failed" + ("; giving up" if gave_up else "; will retry"),
        extra={
            "merchant_id": record.merchant_id,
            "rule_id": rule.id,
            "alert_id": record.id,
            "attempt": record.webhook_attempts,
            "http_status": status,
            "error": error,
            "next_attempt_at": record.next_attempt_at,
        },
    )
    return "failed" if gave_up else "retrying"


async def _post(
    pipeline: Pipeline, url: str, body: bytes, secret: str, alert_id: str
) -> tuple[int | None, str | None]:
    """The HTTP status (None when no answer came) and the error, None on a 2xx."""
    headers = {
        "Content-Type": "application/json",
        "X-Growthloop-Event": ALERT_FIRED,
        "X-Growthloop-Delivery": alert_id,
        "X-Growthloop-Signature": signature(secret, body),
    }
    try:
        async with httpx.AsyncClient(
            transport=pipeline.webhook_transport, timeout=WEBHOOK_TIMEOUT
        ) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"
