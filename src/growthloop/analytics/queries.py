"""The dashboard's questions, written once over the relations every event store provides
(`events` and `hours`, see backends/base.py) and spelled per backend by its `Dialect`.

Days are the merchant's local days: a range [from, to] is the instants from local
midnight of `from` to local midnight after `to`, so an order at 23:30 in Shanghai is on
that day and not the next (the classic bug of bucketing by UTC date).

People, not devices: `person` is the member (or the person an identify call linked the
device to), so one member on three devices is one active member.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from growthloop.analytics.backends.base import EVENT_COUNTERS, Dialect, EventStore
from growthloop.analytics.events import ORDER_EVENTS, ORDER_PAID

COLUMN_PROPERTIES = ("platform", "page", "channel", "share_code", "event")
MAX_BREAKDOWN_VALUES = 25
DROPPED_LIMIT = 100


@dataclass(frozen=True)
class Span:
    """A range of local days and the UTC instants that bound it."""

    first: date
    last: date
    tz: str

    @property
    def start(self) -> datetime:
        return local_midnight(self.first, self.tz)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last + timedelta(days=1), self.tz)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def whole_hour_offsets(tz: str, span: Span) -> bool:
    """Hourly aggregates bucket exactly into local days only where the offset is whole
    hours (all of China; not India or Nepal)."""
    zone = ZoneInfo(tz)
    probes = [span.start, span.end, datetime(span.first.year, 1, 1, tzinfo=UTC)]
    for probe in probes:
        offset = probe.astimezone(zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
    return True


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def property_expr(d: Dialect, key: str) -> str:
    if key in COLUMN_PROPERTIES:
        return key
    return d.prop(key)


def where_sql(d: Dialect, where: dict[str, Any] | None) -> str:
    """Equality filters on properties: {key: value} or {key: [values]} (any of them)."""
    if not where:
        return "TRUE"
    parts = []
    for key, value in sorted(where.items()):
        expr = property_expr(d, key)
        values = value if isinstance(value, list) else [value]
        if key not in COLUMN_PROPERTIES:
            expr = d.to_text(expr)
        options = ", ".join(d.lit(_text(v)) for v in values)
        parts.append(f"{expr} IN ({options})" if options else "FALSE")
    return " AND ".join(parts)


def _range(d: Dialect, column: str, start: datetime, end: datetime) -> str:
    return f"{column} >= {d.instant(start)} AND {column} < {d.instant(end)}"


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


# ---- overview ------------------------------------------------------------------------


def _hour_source(d: Dialect, span: Span) -> str:
    if whole_hour_offsets(span.tz, span):
        return "hours"
    counters = ", ".join(f"{expr} AS {name}" for name, expr in EVENT_COUNTERS)
    return f"(SELECT time AS hour, person, mem, platform, 1 AS n, {counters} FROM events)"


# What the overview, the platform comparison and the alerts measure, over rows of `hours`.
MEASURES: dict[str, str] = {
    "active_members": "count(DISTINCT CASE WHEN mem IS NOT NULL THEN person END)",
    "visitors": "count(DISTINCT person)",
    "new_members": "count(DISTINCT CASE WHEN reg > 0 AND mem IS NOT NULL THEN person END)",
    "orders": "sum(paid)",
    "gmv": "sum(gmv)",
    "paying_members": "count(DISTINCT CASE WHEN paid > 0 AND mem IS NOT NULL THEN person END)",
    "refunds": "sum(refunds)",
    "refund_amount": "sum(refunded)",
}
MEASURE_NAMES = tuple(MEASURES)
_DAY_MEASURES = ", ".join(f"{sql} AS {name}" for name, sql in MEASURES.items())


async def overview(store: EventStore, merchant_id: str, span: Span) -> dict[str, Any]:
    d = store.dialect
    source = _hour_source(d, span)
    scoped = (
        f"(SELECT {d.local_date('hour', span.tz)} AS day, * FROM {source} "
        f"WHERE {_range(d, 'hour', span.start, span.end)}) AS h"
    )
    daily = await store.query(
        merchant_id, f"SELECT day, {_DAY_MEASURES} FROM {scoped} GROUP BY day ORDER BY day"
    )
    totals = await store.query(
        merchant_id,
        f"SELECT {_DAY_MEASURES}, "
        "(SELECT count(*) FROM (SELECT person FROM "
        f"(SELECT person, paid FROM {source} WHERE {_range(d, 'hour', span.start, span.end)} "
        "AND mem IS NOT NULL) AS t GROUP BY person HAVING sum(paid) >= 2) AS r) AS repeat_buyers "
        f"FROM {scoped}",
    )
    names = MEASURE_NAMES
    by_date = {
        row[0]: dict(zip(names, (int(v or 0) for v in row[1:]), strict=True)) for row in daily
    }
    by_day = []
    for day in span.days():
        values = by_date.get(day) or dict.fromkeys(names, 0)
        by_day.append(
            {
                "date": day.isoformat(),
                **values,
                "conversion_rate": _rate(values["paying_members"], values["active_members"]),
            }
        )
    t = dict(zip((*names, "repeat_buyers"), (int(v or 0) for v in totals[0]), strict=True))
    return {
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
        "timezone": span.tz,
        "active_members": t["active_members"],
        "visitors": t["visitors"],
        "new_members": t["new_members"],
        "orders": t["orders"],
        "gmv": t["gmv"],
        "paying_members": t["paying_members"],
        "conversion_rate": _rate(t["paying_members"], t["active_members"]),
        "aov": t["gmv"] // t["orders"] if t["orders"] else 0,
        "repurchase_rate": _rate(t["repeat_buyers"], t["paying_members"]),
        "refunds": t["refunds"],
        "refund_amount": t["refund_amount"],
        "by_day": by_day,
    }


# ---- trends --------------------------------------------------------------------------


def _bucket(d: Dialect, expr_time: str, tz: str, interval: str) -> str:
    day = d.local_date(expr_time, tz)
    return day if interval == "day" else d.week_start(day)


def _buckets(span: Span, interval: str) -> list[date]:
    if interval == "day":
        return span.days()
    first = span.first - timedelta(days=span.first.weekday())
    return [first + timedelta(weeks=i) for i in range((span.last - first).days // 7 + 1)]


async def trends(
    store: EventStore,
    merchant_id: str,
    span: Span,
    *,
    event: str,
    math: str,
    interval: str,
    breakdown: str | None,
    where: dict[str, Any] | None,
) -> dict[str, Any]:
    d = store.dialect
    value = "count(*)" if math == "count" else "count(DISTINCT person)"
    bd = d.to_text(property_expr(d, breakdown)) if breakdown else d.null_text()
    rows = await store.query(
        merchant_id,
        f"SELECT {_bucket(d, 'time', span.tz, interval)} AS bucket, {bd} AS bd, {value} "
        f"FROM events WHERE event = {d.lit(event)} AND {_range(d, 'time', span.start, span.end)} "
        f"AND {where_sql(d, where)} GROUP BY bucket, bd",
    )
    if math == "count":  # counts add up across buckets; distinct people do not
        totals: dict[Any, int] = {}
        for _, key, count in rows:
            totals[key] = totals.get(key, 0) + int(count)
    else:
        totals_rows = await store.query(
            merchant_id,
            f"SELECT {bd} AS bd, {value} FROM events WHERE event = {d.lit(event)} AND "
            f"{_range(d, 'time', span.start, span.end)} AND {where_sql(d, where)} GROUP BY bd",
        )
        totals = {r[0]: int(r[1]) for r in totals_rows}
    kept = sorted(totals, key=lambda k: (-totals[k], "" if k is None else str(k)))
    kept = kept[:MAX_BREAKDOWN_VALUES]
    points: dict[Any, dict[date, int]] = {k: {} for k in kept}
    for bucket, key, count in rows:
        if key in points:
            points[key][bucket] = int(count)
    buckets = _buckets(span, interval)
    series = [
        {
            "breakdown": key,
            "total": totals[key],
            "points": [{"date": b.isoformat(), "value": points[key].get(b, 0)} for b in buckets],
        }
        for key in kept
    ]
    return {"event": event, "math": math, "interval": interval, "series": series}


# ---- funnels -------------------------------------------------------------------------


async def funnel(
    store: EventStore,
    merchant_id: str,
    span: Span,
    *,
    steps: list[tuple[str, dict[str, Any] | None]],
    window_hours: int,
    breakdown: str | None,
    list_dropped: bool = False,
) -> dict[str, Any]:
    """Ordered steps: a person reaches step k when some step-1 event in the range is
    followed by a step-2 event strictly later, ..., a step-k event, all within the window
    of the step-1 event. The best start counts (for each start the earliest next events are
    taken, which is optimal). A person's breakdown value is that of their best start (the
    latest among equally good ones).

    Most starts cannot matter: of several step-1 events with no step-2 event between them,
    the last has the same chain as the others and the latest window, so only it goes on to
    the later steps (a page-view funnel drops from every view to about one per cart)."""
    d = store.dialect
    window = timedelta(hours=window_hours)
    conds = [f"(event = {d.lit(e)} AND {where_sql(d, w)})" for e, w in steps]
    flags = ", ".join(f"CASE WHEN {c} THEN 1 ELSE 0 END AS m{i}" for i, c in enumerate(conds, 1))
    bd = d.to_text(property_expr(d, breakdown)) if breakdown else "''"
    ctes = [
        f"s AS (SELECT person, mem, time, {bd} AS bd, {flags} FROM events "
        f"WHERE {_range(d, 'time', span.start, span.end + window)} AND ({' OR '.join(conds)}))",
        "c1 AS (SELECT person, mem, bd, time AS t1 FROM s "
        f"WHERE m1 = 1 AND time < {d.instant(span.end)})",
    ]
    for k in range(2, len(steps) + 1):
        ctes.append(f"e{k} AS (SELECT person, time FROM s WHERE m{k} = 1)")
        previous = "t1" if k == 2 else f"t{k - 1}"
        source = "k2" if k == 3 else f"c{k - 1}"
        ctes.append(
            f"c{k} AS (SELECT c.*, e.time AS t{k} FROM {source} AS c ASOF LEFT JOIN e{k} AS e "
            f"ON c.person = e.person AND e.time > c.{previous})"
        )
        if k == 2:
            # Keep a start unless the next start comes before its step 2 (see above).
            following = d.next_value("t1", "person", "t1")
            ctes.append(
                "k2 AS (SELECT person, mem, bd, t1, t2 FROM (SELECT c.*, "
                f"{following} AS next_t1 FROM c2 AS c) AS x "
                "WHERE next_t1 IS NULL OR (t2 IS NOT NULL AND t2 <= next_t1))"
            )
    last = "k2" if len(steps) == 2 else f"c{len(steps)}"
    reached = " + ".join(
        ["1"]
        + [
            f"CASE WHEN t{k} IS NOT NULL AND t{k} <= t1 + {d.seconds(int(window.total_seconds()))} "
            "THEN 1 ELSE 0 END"
            for k in range(2, len(steps) + 1)
        ]
    )
    ctes.append(f"lv AS (SELECT person, mem, bd, t1, {reached} AS level FROM {last})")
    rank = f"level * 10000000000000000 + {d.epoch_us('t1')}"
    ctes.append(
        f"p AS (SELECT person, max(mem) AS mem, max(level) AS level, "
        f"{d.arg_max('bd', rank)} AS bd FROM lv GROUP BY person)"
    )
    prefix = ", ".join(ctes)
    # The backends' own WITH comes first: continue it.
    rows = await store.query(
        merchant_id, f", {prefix} SELECT bd, level, count(*) FROM p GROUP BY bd, level"
    )
    n = len(steps)
    by_value: dict[Any, list[int]] = {}
    for value, level, count in rows:
        counts = by_value.setdefault(value if breakdown else None, [0] * n)
        for k in range(int(level)):
            counts[k] += int(count)
    totals = [sum(c[k] for c in by_value.values()) for k in range(n)]

    def shape(counts: list[int]) -> list[dict[str, Any]]:
        return [
            {
                "event": steps[k][0],
                "count": counts[k],
                "conversion_from_start": _rate(counts[k], counts[0])
                if k
                else 1.0
                if counts[0]
                else 0.0,
                "conversion_from_previous": _rate(counts[k], counts[k - 1])
                if k
                else 1.0
                if counts[0]
                else 0.0,
            }
            for k in range(n)
        ]

    result: dict[str, Any] = {"steps": shape(totals), "window_hours": window_hours}
    if breakdown:
        ordered = sorted(by_value.items(), key=lambda kv: (-kv[1][0], str(kv[0])))
        result["breakdown"] = [
            {"value": value, "steps": shape(counts)}
            for value, counts in ordered[:MAX_BREAKDOWN_VALUES]
        ]
    if list_dropped:
        dropped = await store.query(
            merchant_id,
            f", {prefix} SELECT level, person, mem FROM (SELECT level, person, mem, "
            "row_number() OVER (PARTITION BY level ORDER BY person) AS rn FROM p "
            f"WHERE level < {n}) AS x WHERE rn <= {DROPPED_LIMIT} ORDER BY level, person",
        )
        lists: dict[int, list[dict[str, Any]]] = {}
        for level, person, mem in dropped:
            lists.setdefault(int(level), []).append({"person": person, "member_id": mem})
        for k, step in enumerate(result["steps"]):
            if k:
                step["dropped"] = totals[k - 1] - totals[k]
                step["dropped_people"] = lists.get(k, [])
    return result


# ---- retention -----------------------------------------------------------------------


async def retention(
    store: EventStore,
    merchant_id: str,
    span: Span,
    *,
    start_event: str,
    return_event: str,
    period: str,
    periods: int,
) -> dict[str, Any]:
    """A person's cohort is the period (local day, or ISO week from Monday) of their first
    `start_event` in the range. returned[k] counts the cohort's people with a
    `return_event` k periods later, at or after their start event (so with the same event
    for both, returned[0] is the cohort's size)."""
    d = store.dialect
    length = 1 if period == "day" else 7
    horizon = local_midnight(span.last + timedelta(days=length * periods + length), span.tz)
    start_bucket = _bucket(d, "t0", span.tz, period)
    ret_bucket = _bucket(d, "time", span.tz, period)
    rows = await store.query(
        merchant_id,
        f", st AS (SELECT person, min(time) AS t0 FROM events WHERE event = {d.lit(start_event)} "
        f"AND {_range(d, 'time', span.start, span.end)} GROUP BY person), "
        f"c AS (SELECT person, t0, {start_bucket} AS cohort FROM st), "
        f"r AS (SELECT person, time, {ret_bucket} AS rb FROM events "
        f"WHERE event = {d.lit(return_event)} AND {_range(d, 'time', span.start, horizon)}), "
        f"k AS (SELECT c.cohort, c.person, {d.days_between('c.cohort', 'r.rb')} AS gap FROM c "
        "JOIN r ON r.person = c.person WHERE r.time >= c.t0) "
        "SELECT cohort, -1 AS gap, count(*) FROM c GROUP BY cohort "
        f"UNION ALL SELECT cohort, gap, count(DISTINCT person) FROM k WHERE gap >= 0 AND "
        f"gap < {length * periods} GROUP BY cohort, gap",
    )
    sizes: dict[date, int] = {}
    returned: dict[date, list[int]] = {}
    for cohort, gap, count in rows:
        if int(gap) < 0:
            sizes[cohort] = int(count)
        else:
            returned.setdefault(cohort, [0] * periods)[int(gap) // length] += int(count)
    cohorts = []
    for start in _buckets(span, period):
        size = sizes.get(start, 0)
        values = returned.get(start, [0] * periods)
        cohorts.append({"start": start.isoformat(), "size": size, "returned": values})
    return {
        "start_event": start_event,
        "return_event": return_event,
        "period": period,
        "periods": periods,
        "cohorts": cohorts,
    }


# ---- attribution and platforms ----------------------------------------------------------

TOUCH_COLUMNS = ("channel", "platform", "share_code")


async def attribution(
    store: EventStore,
    merchant_id: str,
    span: Span,
    *,
    by: str,
    model: str,
    lookback_days: int,
) -> dict[str, Any]:
    """Paid orders and their GMV credited to the first or the last touch before the order
    within the lookback: a touch is any event of the buyer, other than an order's own,
    that carries the dimension (a channel, a platform, a share code)."""
    d = store.dialect
    lookback = d.seconds(lookback_days * 86400)
    since = span.start - timedelta(days=lookback_days)
    touches = (
        f"t AS (SELECT person, time, {by} AS v FROM events WHERE {by} IS NOT NULL AND "
        f"event NOT LIKE '{ORDER_EVENTS}%' AND {_range(d, 'time', since, span.end)})"
    )
    orders = (
        f"o AS (SELECT person, time, amount FROM events WHERE event = '{ORDER_PAID}' AND "
        f"{_range(d, 'time', span.start, span.end)})"
    )
    if model == "last_touch":
        join = (
            "a AS (SELECT o.person, o.amount, CASE WHEN t.time >= o.time - "
            f"{lookback} THEN t.v END AS v FROM o ASOF LEFT JOIN t ON o.person = t.person "
            "AND t.time <= o.time)"
        )
    else:
        join = (
            "a AS (SELECT o.person, o.amount, CASE WHEN t.time <= o.time THEN t.v END AS v "
            "FROM (SELECT *, time - " + lookback + " AS since FROM o) AS o "
            "ASOF LEFT JOIN t ON o.person = t.person AND t.time >= o.since)"
        )
    rows = await store.query(
        merchant_id,
        f", {touches}, {orders}, {join} SELECT v, count(*), sum(amount), "
        "count(DISTINCT person) FROM a GROUP BY v",
    )
    items = [
        {"value": v, "orders": int(n), "gmv": int(g or 0), "buyers": int(b)} for v, n, g, b in rows
    ]
    items.sort(key=lambda r: (-r["gmv"], -r["orders"], str(r["value"])))
    return {"by": by, "model": model, "lookback_days": lookback_days, "rows": items}


async def platforms(store: EventStore, merchant_id: str, span: Span) -> dict[str, Any]:
    d = store.dialect
    source = _hour_source(d, span)
    rows = await store.query(
        merchant_id,
        f"SELECT platform, {_DAY_MEASURES} FROM {source} AS h WHERE "
        f"{_range(d, 'hour', span.start, span.end)} GROUP BY platform",
    )
    names = MEASURE_NAMES
    items = []
    for row in rows:
        values = dict(zip(names, (int(v or 0) for v in row[1:]), strict=True))
        items.append(
            {
                "platform": row[0],
                **values,
                "conversion_rate": _rate(values["paying_members"], values["active_members"]),
                "aov": values["gmv"] // values["orders"] if values["orders"] else 0,
            }
        )
    items.sort(key=lambda r: (-r["gmv"], -r["visitors"], r["platform"]))
    return {"from": span.first.isoformat(), "to": span.last.isoformat(), "platforms": items}
