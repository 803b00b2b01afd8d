"""Ingestion, identity and business events. Never commits: the caller's unit of work does.

- `ingest` takes a decoded batch from any wire format: normalizes each event, drops bots
  and retried duplicates, resolves each distinct id to its person, applies identify links,
  and returns once the events are durable in the event store.
- Identity: a distinct id belongs to a member when it is the member's id, one of their
  platform ids (written at sign-up and login) or an anonymous id an identify call linked
  to one of those. The first link wins; an identify that would merge two members is refused.
- Business events: the domain events of `events.BUSINESS_EVENTS` are written to the
  analytics outbox in the transaction of the action (`record_domain_event`);
  `tasks.flush_outbox` moves them to the event store in bulk, so a merchant has a
  dashboard with no client SDK at all.
- The dashboard: `query_scope` checks the span of days a query asks for; the queries
  themselves are `queries.py`, their `warnings` `event_warnings`.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.analytics import repository as repo
from growthloop.analytics.backends.base import EventStore
from growthloop.analytics.errors import EventStoreUnavailable, InvalidIngestKey, InvalidRange
from growthloop.analytics.events import ARRIVALS, BUSINESS_EVENTS, ORDER_IMPORTED, RECORDED_AS
from growthloop.analytics.ingest import (
    LOCATION_KEYS,
    Batch,
    clock_offset,
    is_bot,
    normalize_batch,
)
from growthloop.analytics.models import AnalyticsIdentity
from growthloop.analytics.pipeline import (
    MERCHANT_CACHE_SECONDS,
    IngestMerchant,
    RecentIds,
    pipeline_of,
)
from growthloop.analytics.queries import Span
from growthloop.analytics.rows import EventColumns, Override
from growthloop.compliance import service as compliance
from growthloop.core.context import context_of, merchant_timezone, now, uow_of
from growthloop.core.events import DomainEvent, EventBus

log = logging.getLogger("growthloop.analytics")


@dataclass
class IngestResult:
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    dropped: int = 0  # known bots
    refused: int = 0  # members who refused analytics: accepted, not stored

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "dropped": self.dropped,
            "refused": self.refused,
        }


# ---- ingestion ---------------------------------------------------------------------


async def merchant_for_key(session: AsyncSession, key: str | None) -> IngestMerchant:
    if not key or not isinstance(key, str) or len(key) > 128:
        raise InvalidIngestKey()
    pipeline = pipeline_of(session)
    cached = pipeline.merchants.get(key, MERCHANT_CACHE_SECONDS)
    if cached is not None:
        assert isinstance(cached, IngestMerchant)
        return cached
    found = await context_of(session).merchants.by_ingest_key(session, key)
    if found is None:
        raise InvalidIngestKey()
    merchant = IngestMerchant(id=found[0], timezone=found[1])
    pipeline.merchants.put(key, merchant)
    return merchant


async def ingest(
    session: AsyncSession,
    merchant: IngestMerchant,
    batch: Batch,
    *,
    user_agent: str | None = None,
    scripts: bool = False,
) -> IngestResult:
    """`scripts`: the native endpoint, where curl and other scripting clients are
    integrators, not bots (`ingest.is_bot`)."""
    pipeline = pipeline_of(session)
    received_at = now(session)
    result = IngestResult(rejected=[r.as_dict() for r in batch.rejected])
    if is_bot(user_agent, scripts=scripts):
        result.accepted = result.dropped = len(batch.events)
        return result
    offset = clock_offset(batch.sent_at, received_at)
    events, rejected, result.dropped = normalize_batch(
        batch.events, merchant.id, received_at, offset, scripts=scripts
    )
    result.rejected += [r.as_dict() for r in rejected]
    result.accepted = result.dropped + len(events)

    events = await _first_seen(pipeline.recent, events, result)
    claimed = events.uuid
    uow = uow_of(session)

    async def forget() -> None:
        try:
            await pipeline.recent.forget(merchant.id, claimed)
        except Exception:  # the retry then counts as a duplicate until the ids expire
            log.exception("could not forget the ids of a batch not stored")

    uow.on_rollback(forget)
    # From resolving the members to the landed write, no erasure of this process falls
    # between (an erasure waits for the batches in flight).
    await pipeline.gate.enter()
    uow.on_rollback(pipeline.gate.leave)
    events, overrides, barred = await _resolve_people(session, events, received_at)
    events = await _with_consent(session, events, result, barred)
    if overrides:  # with the links, before the commit: a failure undoes both for the retry
        try:
            await pipeline.store.add_overrides(overrides)
        except Exception as exc:
            raise EventStoreUnavailable() from exc
    # The table is made here, on the loop's thread, rather than by the writer's: there it
    # would contend with the requests for the interpreter and hold up the write that every
    # batch in it waits for (the file writing runs without the interpreter's lock).
    table = events.to_arrow()

    async def write() -> None:
        try:
            await pipeline.batcher.write(table)
        except Exception as exc:
            await forget()
            raise EventStoreUnavailable() from exc
        finally:
            await pipeline.gate.leave()

    async def store() -> None:
        # The write goes on if the request is cancelled (the batcher would write the rows
        # anyway), and the batch leaves the gate when it has landed, not before. (The
        # shield also marks a cancelled caller's write error as seen.)
        await asyncio.shield(write())

    # Durable before the answer, but written once the links are committed: the database's
    # writer (one at a time on SQLite) is not held while the event store writes, so
    # concurrent batches share the store's writes. Not written, not seen: a retry is new.
    uow.after_commit(store)
    return result


async def _resolve_people(
    session: AsyncSession, events: EventColumns, received_at: datetime
) -> tuple[EventColumns, list[Override], set[str]]:
    """The batch's links made (identify calls) and its events' members filled in; the
    overrides those links put on events already stored, and the ids barred because they
    belong to a member who refused analytics."""
    merchant_id = events.merchant_id
    pairs = [
        (link, d) for link, d in zip(events.link_from, events.distinct_id, strict=True) if link
    ]
    barred = await _refusers_devices(session, merchant_id, pairs) if pairs else set()
    overrides: list[Override] = []
    for link, distinct_id in pairs:
        if link in barred or distinct_id in barred:
            continue
        overrides += await link_anonymous(session, merchant_id, link, distinct_id, received_at)
    people = await resolve(session, merchant_id, set(events.distinct_id))
    if people:
        nobody = (None, None)
        events.member_id = [people.get(d, nobody)[1] for d in events.distinct_id]
    return events, overrides, barred


async def _first_seen(
    recent: RecentIds, events: EventColumns, result: IngestResult
) -> EventColumns:
    """The events not stored before: a retry of an event already stored (the same id
    within the window, or twice in this batch) is counted a duplicate and dropped."""
    uuids = events.uuid
    keep = None
    if len(set(uuids)) != len(uuids):
        first: dict[str, int] = {}
        for i, event_id in enumerate(uuids):
            first.setdefault(event_id, i)
        keep = sorted(first.values())
        result.duplicates += len(uuids) - len(keep)
        uuids = [uuids[i] for i in keep]
    new_ids = await recent.claim(events.merchant_id, uuids)
    if len(new_ids) != len(uuids):
        result.duplicates += len(uuids) - len(new_ids)
        positions = keep if keep is not None else range(len(uuids))
        keep = [i for i in positions if events.uuid[i] in new_ids]
    return events if keep is None else events.take(keep)


async def _refusers_devices(
    session: AsyncSession, merchant_id: str, pairs: list[tuple[str, str]]
) -> set[str]:
    """The ids this batch ties to a member who refused analytics: no link is made for them
    and their events here are refused like the member's own, whatever the order of the
    batch. Ids the batch links together form groups (union-find); a group holding an id of
    a refusing member is barred whole. An id that is already another member's joins no
    group: that link would change nothing (the first link wins)."""
    known = await repo.identities_of(session, merchant_id, {x for pair in pairs for x in pair})
    members = {m for _, m in known.values() if m}
    decided = await compliance.decisions(session, merchant_id, members, ["analytics"])
    refusers = {m for m in members if decided.get((m, "analytics")) is False}
    if not refusers:
        return set()

    def owner(distinct_id: str) -> str | None:
        return known.get(distinct_id, (distinct_id, None))[1]

    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        free = [x for x in pair if owner(x) is None or owner(x) in refusers]
        for x in free:
            root(x)
        if len(free) == 2:
            parent[root(free[0])] = root(free[1])
    barred_roots = {root(x) for x in parent if owner(x) in refusers}
    return {x for x in parent if root(x) in barred_roots}


async def _with_consent(
    session: AsyncSession, events: EventColumns, result: IngestResult, barred: set[str]
) -> EventColumns:
    """What the members' consents allow: no SDK events of a member who refused analytics
    (nor of the devices this batch ties to them, `barred`), and no location in anyone's
    events without the member's separate location consent (anonymous devices have given
    none)."""
    members = events.members()
    ids = {m for m in members if m}
    decided = await compliance.decisions(
        session, events.merchant_id, ids, ["analytics", "location"]
    )
    refusers = {m for m in ids if decided.get((m, "analytics")) is False}
    properties = events.properties
    if barred or refusers:
        keep = [
            i
            for i, (d, m) in enumerate(zip(events.distinct_id, members, strict=True))
            if d not in barred and m not in refusers
        ]
        result.refused += len(events) - len(keep)
        if len(keep) != len(events):
            events = events.take(keep)
            members = events.members()
            properties = events.properties
    for i in [i for i, located in enumerate(events.located) if located]:
        member = members[i]
        if not (member and decided.get((member, "location")) is True):
            props = json.loads(properties[i])
            for key in LOCATION_KEYS:
                props.pop(key, None)
            properties[i] = json.dumps(props, ensure_ascii=False, separators=(",", ":"))
    return events


async def resolve(
    session: AsyncSession, merchant_id: str, distinct_ids: set[str]
) -> dict[str, tuple[str, str | None]]:
    """distinct id -> (person, member id) for the ids that are linked to someone."""
    cache = pipeline_of(session).identities
    cached = cache.get_many(merchant_id, distinct_ids)
    found = {d: hit for d, hit in cached.items() if hit}  # () is a recent miss
    missing = distinct_ids.difference(cached)
    if missing:
        looked_up = await repo.identities_of(session, merchant_id, missing)
        for distinct_id in missing:
            hit = looked_up.get(distinct_id)
            cache.put(merchant_id, distinct_id, hit or ())
            if hit:
                found[distinct_id] = hit
    return found


async def link_anonymous(
    session: AsyncSession, merchant_id: str, anonymous_id: str, target: str, now: datetime
) -> list[Override]:
    """An identify call: the events of `anonymous_id` are `target`'s. Returns the overrides
    to apply to events already stored; nothing when the link is refused."""
    pipeline = pipeline_of(session)
    known = await repo.identities_of(session, merchant_id, [anonymous_id, target])
    person, member = known.get(target, (target, None))
    existing = known.get(anonymous_id)
    if existing is not None:
        if existing[1] is not None and target not in known:
            # An alias the other way round (PostHog's alias(previous_id=member, ...)): the
            # new id joins the member the first one already stands for.
            return await link_anonymous(session, merchant_id, target, anonymous_id, now)
        # Already someone's: the first link wins, and two members are never merged.
        return []
    added = await repo.add_identity(
        session,
        merchant_id=merchant_id,
        distinct_id=anonymous_id,
        person_id=person,
        member_id=member,
        source="identify",
        now=now,
    )
    if not added:
        return []
    pipeline.identities.drop(merchant_id, anonymous_id)
    return [Override(merchant_id, anonymous_id, person, member, pipeline.link_time(now))]


async def link_member(
    session: AsyncSession, merchant_id: str, member_id: str, distinct_ids: list[str], now: datetime
) -> list[Override]:
    """The member's own ids (member id, platform ids) stand for the member; a person an
    identify call created under one of them (it arrived before the login) joins them,
    unless the member refused analytics: SDK links never reach a member who refused."""
    pipeline = pipeline_of(session)
    decided = await compliance.decisions(session, merchant_id, {member_id}, ["analytics"])
    claims_devices = decided.get((member_id, "analytics")) is not False
    overrides = []
    for distinct_id in dict.fromkeys([member_id, *distinct_ids]):
        added = await repo.add_identity(
            session,
            merchant_id=merchant_id,
            distinct_id=distinct_id,
            person_id=member_id,
            member_id=member_id,
            source="member",
            now=now,
        )
        if added:
            at = pipeline.link_time(now)
            overrides.append(Override(merchant_id, distinct_id, member_id, member_id, at))
        repointed_ids = (
            await repo.repoint_person(session, merchant_id, distinct_id, member_id)
            if claims_devices
            else []
        )
        for repointed in repointed_ids:
            at = pipeline.link_time(now)
            overrides.append(Override(merchant_id, repointed, member_id, member_id, at))
            pipeline.identities.drop(merchant_id, repointed)
        pipeline.identities.drop(merchant_id, distinct_id)
    return overrides


# ---- the dashboard's queries -------------------------------------------------------

MAX_DAYS = 366
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


async def query_scope(
    session: AsyncSession, merchant_id: str, first: date | None, last: date | None
) -> tuple[EventStore, str, Span]:
    """What every dashboard query takes: the event store, the merchant and the checked span
    of local days (by default the 30 days up to today in the merchant's timezone)."""
    tz = await merchant_timezone(session, merchant_id)
    last = last or now(session).astimezone(ZoneInfo(tz)).date()
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
    return pipeline_of(session).store, merchant_id, Span(first, last, tz)


def stored_business_events() -> set[str]:
    """The names business events are stored under."""
    return {RECORDED_AS.get(name, name) for name in BUSINESS_EVENTS}


async def unknown_events(store: EventStore, merchant_id: str, names: list[str]) -> list[str]:
    """The names among `names` that are neither a business event nor an event stored for
    the merchant: a query naming them counts nothing, most likely from a typo. A business
    event that simply has not happened yet is known (its zero is true)."""
    business = stored_business_events()
    candidates = [n for n in dict.fromkeys(names) if n not in business]
    if not candidates:
        return []
    d = store.dialect
    # One row per name found; LIMIT 1 lets the scan stop at the first event of a name. The
    # names go in as the dialect's escaped literals (the stores take no parameters).
    parts = []
    for i, name in enumerate(candidates):
        lit = d.lit(name)
        first = f"SELECT event FROM events WHERE event = {lit} LIMIT 1"  # noqa: S608
        parts.append(f"SELECT {lit} AS e FROM ({first}) AS t{i}")  # noqa: S608
    sql = f"SELECT e FROM ({' UNION ALL '.join(parts)}) AS u"  # noqa: S608
    seen = {row[0] for row in await store.query(merchant_id, sql)}
    return [n for n in candidates if n not in seen]


def unknown_event_warning(name: str) -> dict[str, str]:
    hint = ""
    if name in RECORDED_AS:
        hint = (
            f" Imported orders are recorded as {RECORDED_AS[name]!r} with "
            "properties.source = 'import'."
        )
    else:
        known = sorted(stored_business_events())
        by_case = {n.lower(): n for n in known}
        close = by_case.get(name.lower()) or next(
            iter(difflib.get_close_matches(name, known, n=1, cutoff=0.8)), None
        )
        if close:
            hint = f" Did you mean {close!r}?"
    return {
        "code": "unknown_event",
        "event": name,
        "message": f"No event named {name!r} has been recorded for this merchant, so it counts "
        f"nothing.{hint} The business events are listed in docs/events.md.",
    }


async def event_warnings(
    store: EventStore, merchant_id: str, names: list[str]
) -> list[dict[str, str]]:
    """A query's `warnings`: one per event it names that was never seen."""
    return [unknown_event_warning(n) for n in await unknown_events(store, merchant_id, names)]


# ---- business events ---------------------------------------------------------------

_PERSONAL_KEYS = ("phone", "name", "address", "openid", "unionid", "code", "email")


def record_business_events(bus: EventBus, kinds: Iterable[type[DomainEvent]]) -> None:
    """Subscribe `record_domain_event` to the classes of the business events. The wiring
    passes them (analytics imports no emitter's events); each must be in
    `events.BUSINESS_EVENTS` once, and each event there must have its class: a ValueError
    at start-up otherwise, rather than a dashboard silently missing an event."""
    kinds = list(kinds)
    names = [kind.name for kind in kinds]
    unknown = sorted(set(names) - BUSINESS_EVENTS.keys())
    missing = sorted(BUSINESS_EVENTS.keys() - set(names))
    twice = sorted({name for name in names if names.count(name) > 1})
    if unknown or missing or twice:
        raise ValueError(
            "analytics.events.BUSINESS_EVENTS and the classes subscribed differ: "
            f"not business events {unknown}, without a class {missing}, twice {twice}"
        )
    for kind in kinds:
        bus.on(kind, record_domain_event)


async def record_domain_event(session: AsyncSession, event: DomainEvent) -> None:
    """In-transaction subscriber: the business event waits in the outbox with its cause."""
    received = now(session)
    payload = event.payload or {}
    member_id = event.member_id
    name, at = event.name, received
    if name == ORDER_IMPORTED:
        # A historical order: paid when it happened, marked as imported.
        name, at = RECORDED_AS[name], datetime.fromisoformat(str(payload["occurred_at"]))
        payload = {**payload, "source": "import"}
    platform = payload.get("platform") if isinstance(payload.get("platform"), str) else None
    if event.name == ORDER_IMPORTED:
        platform = "import"
    elif event.name in ARRIVALS and member_id:
        platform = await _note_login(session, event.merchant_id, member_id, platform, received)
    elif member_id:
        platform = repo.MEMBER_END  # the flush reads the member's ends for its whole batch
    amount_key = BUSINESS_EVENTS.get(event.name)
    amount = payload.get(amount_key) if amount_key else 0
    properties = {
        k: v
        for k, v in payload.items()
        if v is not None and k not in _PERSONAL_KEYS and isinstance(v, str | int | float | bool)
    }
    await repo.add_outbox(
        session,
        merchant_id=event.merchant_id,
        event=name,
        member_id=member_id,
        time=at,
        platform=platform or "server",
        amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else 0,
        share_code=payload.get("share_code")
        if isinstance(payload.get("share_code"), str)
        else None,
        channel=payload.get("channel") if isinstance(payload.get("channel"), str) else None,
        properties=properties,
    )
    uow_of(session).after_commit(context_of(session).kick)


async def _note_login(
    session: AsyncSession, merchant_id: str, member_id: str, platform: str | None, now: datetime
) -> str | None:
    """Link the member's ids at sign-up, and again when they arrive from another end."""
    row = await session.get(AnalyticsIdentity, (merchant_id, member_id))
    if row is not None and row.platform_hint == platform:
        return platform
    external = await context_of(session).members.external_ids(session, merchant_id, member_id)
    overrides = await link_member(session, merchant_id, member_id, external, now)
    if platform:
        await session.execute(
            update(AnalyticsIdentity)
            .where(
                AnalyticsIdentity.merchant_id == merchant_id,
                AnalyticsIdentity.distinct_id == member_id,
            )
            .values(platform_hint=platform)
        )
    if overrides:
        store = pipeline_of(session).store

        async def apply() -> None:
            await store.add_overrides(overrides)

        uow_of(session).after_commit(apply)
    return platform
