"""Domain events, typed.

Each emitting domain declares its events in its own `events.py` as classes deriving from
`DomainEvent`: each becomes a frozen, keyword-only dataclass as it is defined (so it takes
no `@dataclass` of its own: a second one fails). Subscribers register by the class, so mypy
checks that a handler reads fields the event has. `emit()` runs the subscribers in the
caller's transaction, with its session: a reaction commits or rolls back with its cause (a
verified payment moves its order, a paid order earns its points). Work that must leave
the process after the commit goes through the analytics outbox, the one outbox: its
handler writes a row in the same transaction and a sweep flushes it once committed.

A domain below the emitter in the floors does not import the event class: its handler
takes a Protocol of the fields it reads, and the wiring, which sees both, subscribes it.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import MISSING, dataclass
from typing import Any, ClassVar, Protocol, TypeVar, dataclass_transform

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import context_of, uow_of

_BASE_FIELDS = frozenset({"merchant_id", "member_id"})


@dataclass_transform(frozen_default=True, kw_only_default=True)
@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """`name` is the event's stable name in analytics and logs ("order.paid"). A subclass's
    annotated attributes are its fields: `__init_subclass__` makes it the dataclass, and
    `dataclass_transform` tells mypy so (PEP 681)."""

    name: ClassVar[str]
    merchant_id: str
    member_id: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A field declared again without a value is required, as mypy reads it, rather than
        # keeping the base's default (`member_id: str` over `member_id: str | None = None`).
        own = inspect.get_annotations(cls)
        for f in dataclasses.fields(cls):  # the bases' fields, until the next line
            if f.name in own and f.name not in cls.__dict__ and f.default is not MISSING:
                setattr(cls, f.name, dataclasses.field())
        dataclass(frozen=True, kw_only=True)(cls)

    @property
    def payload(self) -> dict[str, Any]:
        """The event's own fields, as analytics stores them beside its name."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in _BASE_FIELDS
        }


class MemberEvent(DomainEvent):
    """An event about one member: `member_id` is always set (who it is, each event says)."""

    member_id: str


class AboutMember(Protocol):
    """What a handler below the emitter reads of any event about a member (the fields every
    `DomainEvent` has): the base of the Protocols those handlers take."""

    @property
    def merchant_id(self) -> str: ...

    @property
    def member_id(self) -> str | None: ...


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[AsyncSession, E], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Handler[Any]]] = defaultdict(list)

    def on(self, kind: type[E], handler: Handler[E]) -> None:
        self._handlers[kind].append(handler)

    def off(self, kind: type[E], handler: Handler[E]) -> None:
        self._handlers[kind].remove(handler)

    async def publish(self, session: AsyncSession, event: DomainEvent) -> None:
        for handler in tuple(self._handlers.get(type(event), ())):
            await handler(session, event)


async def emit(session: AsyncSession, event: DomainEvent) -> None:
    """Run `event`'s subscribers in the session's unit of work (none: a RuntimeError)."""
    uow_of(session)
    await context_of(session).bus.publish(session, event)
