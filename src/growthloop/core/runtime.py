"""Everything a request or job needs, built once per process by the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from growthloop.core.auth import PrincipalValidator, TokenCodec
from growthloop.core.clock import Clock
from growthloop.core.config import Settings
from growthloop.core.db import Database
from growthloop.core.events import EventBus
from growthloop.core.jobs import Sweeper
from growthloop.core.kv import CounterBackend
from growthloop.core.stock import StockBackend


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    bus: EventBus
    counters: CounterBackend
    tokens: TokenCodec
    sweeper: Sweeper
    stock: StockBackend
    principals: PrincipalValidator | None = None
    # The analytics pipeline (event store, batcher, caches); built by the wiring.
    analytics: Any = None
    # The privacy handlers every domain registers (export, erasure); built by the wiring.
    privacy: Any = None
    # Adapters registered by their domains at start-up, by name.
    platforms: dict[str, Any] = field(default_factory=dict)
    gateways: dict[str, Any] = field(default_factory=dict)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
