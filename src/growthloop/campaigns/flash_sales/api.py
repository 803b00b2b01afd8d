from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from growthloop.campaigns.flash_sales import pool, presenters, service
from growthloop.campaigns.flash_sales.schemas import (
    AdminFlashSaleOut,
    FlashSaleIn,
    FlashSaleOut,
    PurchaseIn,
)
from growthloop.campaigns.routes import CampaignRoutes, PaymentWindow, add_campaign_routes
from growthloop.core.auth import (
    CurrentMember,
    SessionDep,
)
from growthloop.core.errors import Unauthenticated
from growthloop.core.lanes import Lane, on_rollback
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import Runtime, RuntimeDep
from growthloop.orders.schemas import OrderOut

router = APIRouter(route_class=UnitOfWorkRoute, tags=["flash sales"])


def _limits(rt: Runtime) -> tuple[int, int]:
    return rt.settings.flash_sale_attempts_per_member, rt.settings.flash_sale_attempts_per_ip


def _ip(request: Request) -> str | None:
    client = request.scope.get("client")
    return str(client[0]) if client else None


def lanes(rt: Runtime) -> list[Lane]:
    return [Lane("POST", "/v1/flash-sales/{sale_id}/purchase", partial(_purchase_lane, rt))]


async def _purchase_lane(rt: Runtime, request: Request) -> Response | None:
    """Before the route and any database work: a valid token (its signature and expiry;
    the account is checked in the transaction), and everything `pool.fast_check` refuses
    is answered here. A request this cannot judge (no token, a bad body) goes on to the
    route for its 401/422, and so does one with an Idempotency-Key: it may be a retry
    whose first answer is stored."""
    if "idempotency-key" in request.headers:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = rt.tokens.decode(token, "member", rt.clock.now())
        data = PurchaseIn.model_validate_json(await request.body())
    except (Unauthenticated, ValidationError):
        return None
    taken = await pool.fast_check(
        rt.db,
        rt.clock,
        rt.stock,
        rt.counters,
        _limits(rt),
        sale_id=request.path_params["sale_id"],
        member_id=str(claims["sub"]),
        merchant_id=str(claims["mer"]),
        quantity=data.quantity,
        ip=_ip(request),
    )
    request.state.flash_counted = True  # the rate limits: the route must not count again
    if taken is not None:
        request.state.flash_take = taken
        on_rollback(request, lambda: pool.give_back_fast(rt.stock, taken))
    return None


add_campaign_routes(
    router,
    CampaignRoutes(
        name="sale",
        path="flash-sales",
        kind=service.SALES,
        body=FlashSaleIn,
        create=service.create_sale,
        admin_out=AdminFlashSaleOut,
        present_admin=presenters.admin_sales_out,
        out=FlashSaleOut,
        present=presenters.sales_out,
        end_description=(
            "End the sale now; the units not sold go back to the product once no order holds any."
        ),
        get_description=(
            "Like the menu, readable before login (with `?merchant_id=`): the sale and its\n"
            "`stock_left`."
        ),
    ),
)


@router.post(
    "/v1/flash-sales/{sale_id}/purchase",
    response_model=OrderOut,
    status_code=201,
    responses={409: {"description": "sold_out, limit_reached, not_started or ended"}},
)
async def purchase(
    sale_id: str,
    body: PurchaseIn,
    request: Request,
    member: CurrentMember,
    session: SessionDep,
    rt: RuntimeDep,
    payment_window: PaymentWindow,
) -> OrderOut:
    """Buy at the flash-sale price: the order waits for payment, holding the units until
    its payment window ends (then they go back on sale)."""
    return await service.purchase(
        session,
        sale_id=sale_id,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        data=body,
        payment_window=payment_window,
        taken=getattr(request.state, "flash_take", None),
        counted=getattr(request.state, "flash_counted", False),
        counters=rt.counters,
        limits=_limits(rt),
        ip=_ip(request),
    )
