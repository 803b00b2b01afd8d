from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from growthloop.core.auth import SessionDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.payments import service
from growthloop.payments.gateway import Gateways
from growthloop.payments.schemas import SandboxPaymentOut

router = APIRouter(route_class=UnitOfWorkRoute, tags=["payments"])
sandbox_router = APIRouter(route_class=UnitOfWorkRoute, tags=["payments"])


@router.post("/v1/payments/notify/{provider}")
async def notify(
    provider: str, request: Request, session: SessionDep, rt: RuntimeDep
) -> dict[str, Any]:
    """The platform's asynchronous payment notification, verified before anything moves."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await service.process_notification(
        session, rt.part(Gateways), provider, headers, await request.body()
    )


@sandbox_router.post("/v1/payments/sandbox/{payment_id}/succeed", response_model=SandboxPaymentOut)
async def sandbox_succeed(
    payment_id: str, session: SessionDep, rt: RuntimeDep
) -> SandboxPaymentOut:
    """Complete a sandbox payment as the platform would (no member token, like a callback)."""
    payment = await service.sandbox_succeed(session, rt.part(Gateways), payment_id)
    return SandboxPaymentOut(
        payment_id=payment.id,
        order_id=payment.order_id,
        status=payment.status,
        amount=payment.amount,
    )
