"""Every domain answers for the personal data in its tables: what it exports for a member,
and what it erases when the member's account is deleted (and what it keeps, and why).

Domains register a `PrivacyHandler` at start-up (the wiring does it); the data export and
the erasure walk the registry, so a domain that lands later plugs in without compliance
knowing it. `tables` names the tables a handler answers for: the data-map test fails on a
table holding a member's data that no handler claims.

Stores outside the database (the event store) register a `StoreEraser`: it runs inside the
erasure's transaction, after the handlers, with every identifier they collected, so that a
store failure rolls the whole erasure back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import context_of
from growthloop.core.models import Personal
from growthloop.core.privacy import PrivacyHandler, StoreEraser


@dataclass
class PrivacyRegistry:
    handlers: list[PrivacyHandler] = field(default_factory=list)
    stores: dict[str, StoreEraser] = field(default_factory=dict)
    # Run after each erasure (the embedded database's clean-up).
    after_erasure: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Personal data held outside the models (the event store's columns), for the notice.
    data_map: dict[str, Personal] = field(default_factory=dict)
    # Retention of the stores outside the database, by kind: expire(before) -> counts.
    retention: dict[str, Callable[[datetime], Awaitable[dict[str, int]]]] = field(
        default_factory=dict
    )
    retention_ran_at: float = float("-inf")
    # The merchant's name, for the notice (the personal-information handler the member
    # deals with); identity answers it, wired at start-up. None: no such merchant.
    merchant_name: Callable[[AsyncSession, str], Awaitable[str | None]] | None = None

    def register(self, handler: PrivacyHandler) -> None:
        if any(h.section == handler.section for h in self.handlers):
            raise ValueError(f"a privacy handler for {handler.section!r} is registered already")
        self.handlers.append(handler)

    def register_store(self, name: str, eraser: StoreEraser) -> None:
        self.stores[name] = eraser

    def tables(self) -> set[str]:
        return {t for h in self.handlers for t in h.tables}


def registry_of(session: AsyncSession) -> PrivacyRegistry:
    return context_of(session).part(PrivacyRegistry)
