from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.catalog import service
from growthloop.catalog.errors import ProductNotFound
from growthloop.catalog.presenters import category_out, product_out, products_out
from growthloop.catalog.schemas import (
    CategoryIn,
    CategoryOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    StockAdjustIn,
)
from growthloop.core.auth import (
    CatalogReader,
    CatalogWriter,
    MerchantQuery,
    OptionalMember,
    SessionDep,
    browsing_merchant,
)
from growthloop.core.pagination import Page, PageDep, PageParams
from growthloop.core.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["catalog"])

CategoryQuery = Annotated[str | None, Query(max_length=64)]


async def _page(
    session: AsyncSession,
    merchant_id: str,
    page: PageParams,
    *,
    on_sale_only: bool,
    category_id: str | None,
) -> Page[ProductOut]:
    rows, cursor = await service.list_products(
        session, merchant_id, page, on_sale_only=on_sale_only, category_id=category_id
    )
    return Page(items=await products_out(session, rows), next_cursor=cursor)


@router.get("/v1/products", response_model=Page[ProductOut])
async def list_products(
    session: SessionDep,
    member: OptionalMember,
    page: PageDep,
    merchant_id: MerchantQuery = None,
    category_id: CategoryQuery = None,
) -> Page[ProductOut]:
    merchant = browsing_merchant(member, merchant_id)
    return await _page(session, merchant, page, on_sale_only=True, category_id=category_id)


@router.get("/v1/products/{product_id}", response_model=ProductOut)
async def get_product(
    product_id: str, session: SessionDep, member: OptionalMember, merchant_id: MerchantQuery = None
) -> ProductOut:
    product = await service.access_product(
        session, browsing_merchant(member, merchant_id), product_id
    )
    if not product.on_sale:
        raise ProductNotFound(product_id=product_id)
    return await product_out(session, product)


@router.post("/v1/admin/products", response_model=ProductOut, status_code=201)
async def create_product(body: ProductIn, session: SessionDep, admin: CatalogWriter) -> ProductOut:
    product = await service.create_product(session, admin.merchant_id, body)
    return await product_out(session, product)


@router.get("/v1/admin/products", response_model=Page[ProductOut])
async def admin_list_products(
    *,
    session: SessionDep,
    page: PageDep,
    category_id: CategoryQuery = None,
    admin: CatalogReader,
) -> Page[ProductOut]:
    return await _page(
        session, admin.merchant_id, page, on_sale_only=False, category_id=category_id
    )


@router.get("/v1/admin/products/{product_id}", response_model=ProductOut)
async def admin_get_product(
    product_id: str, session: SessionDep, admin: CatalogReader
) -> ProductOut:
    product = await service.access_product(session, admin.merchant_id, product_id)
    return await product_out(session, product)


@router.patch("/v1/admin/products/{product_id}", response_model=ProductOut)
async def update_product(
    product_id: str, body: ProductPatch, session: SessionDep, admin: CatalogWriter
) -> ProductOut:
    product = await service.update_product(session, admin.merchant_id, product_id, body)
    return await product_out(session, product)


@router.post("/v1/admin/products/{product_id}/stock-adjustments", response_model=ProductOut)
async def adjust_stock(
    product_id: str, body: StockAdjustIn, session: SessionDep, admin: CatalogWriter
) -> ProductOut:
    product = await service.adjust_stock(session, admin.merchant_id, product_id, body.delta)
    return await product_out(session, product)


@router.get("/v1/admin/categories", response_model=list[CategoryOut])
async def list_categories(session: SessionDep, admin: CatalogReader) -> list[CategoryOut]:
    return [category_out(c) for c in await service.list_categories(session, admin.merchant_id)]


@router.post("/v1/admin/categories", response_model=CategoryOut, status_code=201)
async def create_category(
    body: CategoryIn, session: SessionDep, admin: CatalogWriter
) -> CategoryOut:
    return category_out(await service.create_category(session, admin.merchant_id, body))
