"""Domain events, typed.

Each emitting domain declares its events in its own `events.py` as frozen dataclasses
deriving from `DomainEvent`; subscribers register by the class, so mypy checks that a
handler reads fields the event has. `emit()` runs the subscribers in the caller's
transaction, with its session: a reaction commits or rolls back with its cause (a
verified payment moves its order, a paid order earns its points). Work that must leave
the process after the commit goes through the analytics outbox, the one outbox: its
handler writes a row in the same transaction and a sweep flushes it once committed.

A domain below the emitter in the floors does not import the event class: its handler
takes a Protocol of the fields it reads, and the wiring, which sees both, subscribes it.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import context_of, uow_of

_BASE_FIELDS = frozenset({"merchant_id", "member_id"})


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """`name` is the event's stable name in analytics and logs ("order.paid")."""

    name: ClassVar[str]
    merchant_id: str
    member_id: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The event's own fields, as analytics stores them beside its name."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in _BASE_FIELDS
        }


class NamedEvent(DomainEvent):
    """TRANSITIONAL (removed once every domain has its events.py): an event by name."""

    def __init__(
        self,
        name: str,
        merchant_id: str,
        payload: dict[str, Any] | None = None,
        member_id: str | None = None,
    ) -> None:
        object.__setattr__(self, "merchant_id", merchant_id)
        object.__setattr__(self, "member_id", member_id)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_payload", dict(payload or {}))

    @property
    def payload(self) -> dict[str, Any]:
        return self.__dict__["_payload"]  # type: ignore[no-any-return]

    def __getattr__(self, key: str) -> Any:
        if key == "name":
            return self.__dict__["_name"]
        try:
            return self.__dict__["_payload"][key]
        except KeyError:
            raise AttributeError(key) from None


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[AsyncSession, E], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Handler[Any]]] = defaultdict(list)

        self._named: dict[str, list[Handler[Any]]] = defaultdict(list)  # TRANSITIONAL

    def on(self, kind: type[E] | str, handler: Handler[E]) -> None:
        if isinstance(kind, str):
            self._named[kind].append(handler)
        else:
            self._handlers[kind].append(handler)

    def off(self, kind: type[E] | str, handler: Handler[E]) -> None:
        if isinstance(kind, str):
            self._named[kind].remove(handler)
        else:
            self._handlers[kind].remove(handler)

    async def publish(self, session: AsyncSession, event: DomainEvent) -> None:
        for handler in tuple(self._handlers.get(type(event), ())):
            await handler(session, event)
        for handler in tuple(self._named.get(event.name, ())):
            await handler(session, event)


async def emit(session: AsyncSession, event: DomainEvent) -> None:
    """Run `event`'s subscribers in the session's unit of work (none: a RuntimeError)."""
    uow_of(session)
    await context_of(session).bus.publish(session, event)
