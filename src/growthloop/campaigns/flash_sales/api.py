from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import ValidationError

from growthloop.campaigns.flash_sales import pool, presenters, service
from growthloop.campaigns.flash_sales.errors import FlashSaleNotFound
from growthloop.campaigns.flash_sales.models import FlashSale
from growthloop.campaigns.flash_sales.schemas import (
    AdminFlashSaleOut,
    FlashSaleIn,
    FlashSaleOut,
    PurchaseIn,
)
from growthloop.core.auth import (
    CurrentMember,
    MarketingReader,
    MarketingWriter,
    MerchantQuery,
    OptionalMember,
    SessionDep,
    browsing_merchant,
)
from growthloop.core.errors import Unauthenticated
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute, fast_path, on_rollback
from growthloop.core.runtime import Runtime, RuntimeDep
from growthloop.orders.schemas import OrderOut

router = APIRouter(route_class=UnitOfWorkRoute, tags=["flash sales"])


def _limits(rt: Runtime) -> tuple[int, int]:
    return rt.settings.flash_sale_attempts_per_member, rt.settings.flash_sale_attempts_per_ip


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _fast_check(request: Request) -> None:
    """Before any database work: a valid token (its signature and expiry; the account is
    checked in the transaction), and everything `pool.fast_check` refuses. A request
    this cannot judge (no token, a bad body) goes on to the endpoint for its 401/422."""
    rt: Runtime = request.app.state.runtime
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return
    try:
        claims = rt.tokens.decode(token, "member", rt.clock.now())
        data = PurchaseIn.model_validate_json(await request.body())
    except (Unauthenticated, ValidationError):
        return
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
    if taken is not None:
        request.state.flash_take = taken
        on_rollback(request, lambda: pool.give_back_fast(rt.stock, taken))


@router.post("/v1/admin/flash-sales", response_model=AdminFlashSaleOut, status_code=201)
async def create_sale(
    body: FlashSaleIn,
    session: SessionDep,
    admin: MarketingWriter,
) -> AdminFlashSaleOut:
    sale = await service.create_sale(session, admin.merchant_id, admin.admin_id, body)
    return (await presenters.admin_sales_out(session, [sale]))[0]


@router.get("/v1/admin/flash-sales", response_model=Page[AdminFlashSaleOut])
async def list_sales(
    session: SessionDep, page: PageDep, admin: MarketingReader
) -> Page[AdminFlashSaleOut]:
    rows, cursor = await service.list_sales(session, admin.merchant_id, page)
    return Page(items=await presenters.admin_sales_out(session, rows), next_cursor=cursor)


@router.get("/v1/admin/flash-sales/{sale_id}", response_model=AdminFlashSaleOut)
async def admin_get_sale(
    sale_id: str, session: SessionDep, admin: MarketingReader
) -> AdminFlashSaleOut:
    sale = await get_owned(
        session, FlashSale, sale_id, admin.merchant_id, FlashSaleNotFound(flash_sale_id=sale_id)
    )
    return (await presenters.admin_sales_out(session, [sale]))[0]


@router.post("/v1/admin/flash-sales/{sale_id}/end", response_model=AdminFlashSaleOut)
async def end_sale(
    sale_id: str,
    session: SessionDep,
    admin: MarketingWriter,
) -> AdminFlashSaleOut:
    """End the sale now; the units not sold go back to the product once no order holds any."""
    sale = await service.end_sale(session, admin.merchant_id, admin.admin_id, sale_id)
    return (await presenters.admin_sales_out(session, [sale]))[0]


@router.get("/v1/flash-sales/{sale_id}", response_model=FlashSaleOut)
async def get_sale(
    sale_id: str, session: SessionDep, member: OptionalMember, merchant_id: MerchantQuery = None
) -> FlashSaleOut:
    """Like the menu, readable before login (with `?merchant_id=`): the sale and its
    `stock_left`."""
    merchant = browsing_merchant(member, merchant_id)
    sale = await get_owned(
        session, FlashSale, sale_id, merchant, FlashSaleNotFound(flash_sale_id=sale_id)
    )
    return (await presenters.sales_out(session, [sale]))[0]


@router.post(
    "/v1/flash-sales/{sale_id}/purchase",
    response_model=OrderOut,
    status_code=201,
    responses={409: {"description": "sold_out, limit_reached, not_started or ended"}},
)
@fast_path(_fast_check)
async def purchase(
    sale_id: str,
    body: PurchaseIn,
    request: Request,
    member: CurrentMember,
    session: SessionDep,
    rt: RuntimeDep,
) -> OrderOut:
    """Buy at the flash-sale price: the order waits for payment, holding the units until
    its payment window ends (then they go back on sale)."""
    return await service.purchase(
        session,
        sale_id=sale_id,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        data=body,
        payment_window=timedelta(minutes=rt.settings.payment_window_minutes),
        taken=getattr(request.state, "flash_take", None),
        counters=rt.counters,
        limits=_limits(rt),
        ip=_ip(request),
    )
