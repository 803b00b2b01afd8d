"""Everything a request or job needs, built once per process by the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from growthloop.core.auth import PrincipalValidator, TokenCodec
from growthloop.core.clock import Clock
from growthloop.core.config import Settings
from growthloop.core.context import find_part
from growthloop.core.db import Database
from growthloop.core.events import EventBus
from growthloop.core.jobs import Sweeper
from growthloop.core.kv import CounterBackend
from growthloop.core.stock import StockBackend

T = TypeVar("T")


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
    # Registries owned by domains above the kernel (the payment gateways, the login
    # platforms), looked up by their type: `rt.part(Gateways)`. The wiring's `AppRuntime`
    # also names each one as a typed attribute.
    parts: list[object] = field(default_factory=list)

    def part(self, kind: type[T]) -> T:
        return find_part(self.parts, kind)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
