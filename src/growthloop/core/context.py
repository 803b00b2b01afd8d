"""The runtime context every unit of work carries, and the one door to it from a session.

The wiring builds one frozen `Context` per process (clock, event bus, the directories
identity lends to the ground-floor domains, the stock backend...). Each unit of work
binds it to its session; a service reaches it with `context_of(session)` and the time
with `now(session)`. This module is the only one that reads or writes `session.info`.

Time has one convention: a service reads it from its session (`now(session)`), so a
request, a sweep and an event handler all see the same clock, the one tests can move.
Functions that compute from a given instant (prices, windows, expiry dates) take `now`
as a parameter and never read a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from growthloop.core.clock import Clock

if TYPE_CHECKING:
    from growthloop.core.db import UnitOfWork
    from growthloop.core.events import EventBus
    from growthloop.core.stock import StockBackend

T = TypeVar("T")

_CONTEXT = "growthloop.context"
_UOW = "growthloop.uow"


class MerchantDirectory(Protocol):
    """What any domain may ask about a merchant without importing identity."""

    async def timezone(self, session: AsyncSession, merchant_id: str) -> str: ...

    async def by_ingest_key(self, session: AsyncSession, key: str) -> tuple[str, str] | None: ...


class MemberDirectory(Protocol):
    """What ground-floor domains (consent, analytics, engagement) ask about a member."""

    async def signup_platform(
        self, session: AsyncSession, merchant_id: str, member_id: str
    ) -> str | None: ...

    async def birthday(
        self, session: AsyncSession, merchant_id: str, member_id: str
    ) -> date | None: ...

    async def external_ids(
        self, session: AsyncSession, merchant_id: str, member_id: str
    ) -> list[str]: ...

    async def active_member_ids(self, session: AsyncSession, merchant_id: str) -> list[str]: ...


@dataclass(frozen=True)
class Context:
    clock: Clock
    bus: EventBus
    merchants: MerchantDirectory
    members: MemberDirectory
    stock: StockBackend
    # Wakes the background sweeper after a commit (outboxes to flush).
    kick: Callable[[], None]
    # Parts owned by domains above the kernel (the privacy registry, the analytics
    # pipeline), looked up by their type through `part()`.
    parts: tuple[object, ...] = ()

    def part(self, kind: type[T]) -> T:
        return find_part(self.parts, kind)


def find_part(parts: Iterable[object], kind: type[T]) -> T:
    """The part of type `kind` among a runtime's domain-owned parts."""
    for value in parts:
        if isinstance(value, kind):
            return value
    raise RuntimeError(f"no {kind.__name__} in this runtime; the wiring provides it")


def bind(session: AsyncSession, context: Context | None, uow: UnitOfWork) -> None:
    """Called by the unit of work when it opens a session."""
    if context is not None:
        session.info[_CONTEXT] = context
    session.info[_UOW] = uow


def context_in(session: AsyncSession | Session) -> Context | None:
    """The session's runtime context, if a unit of work bound one (a flush hook's view)."""
    context = session.info.get(_CONTEXT)
    return context if isinstance(context, Context) else None


def context_of(session: AsyncSession) -> Context:
    context = session.info.get(_CONTEXT)
    if not isinstance(context, Context):
        raise RuntimeError("session has no runtime context; open it through a unit of work")
    return context


def uow_of(session: AsyncSession | Session) -> UnitOfWork:
    uow = session.info.get(_UOW)
    if uow is None:  # only `bind` puts one there
        raise RuntimeError("session is not managed by a unit of work")
    return cast("UnitOfWork", uow)


def now(session: AsyncSession) -> datetime:
    """The current instant by the runtime's clock."""
    return context_of(session).clock.now()


async def merchant_timezone(session: AsyncSession, merchant_id: str) -> str:
    """The merchant's IANA timezone: the one door to it for every domain."""
    return await context_of(session).merchants.timezone(session, merchant_id)


async def merchant_today(session: AsyncSession, merchant_id: str) -> date:
    """Today in the merchant's timezone (check-in days, pickup numbers, daily reports)."""
    return context_of(session).clock.today(await merchant_timezone(session, merchant_id))
