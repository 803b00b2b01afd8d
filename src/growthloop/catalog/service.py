"""Catalog rules: products, option groups, prices and stock. Never commits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.catalog import repository as repo
from growthloop.catalog.errors import (
    CategoryExists,
    CategoryNotFound,
    InvalidOptions,
    OptionRequired,
    ProductNotFound,
    ProductOffSale,
    SoldOut,
    UnknownOption,
)
from growthloop.catalog.menu_cache import menu_changed
from growthloop.catalog.models import Category, Product
from growthloop.catalog.schemas import CategoryIn, OptionGroupIn, ProductIn, ProductPatch
from growthloop.core.auth import ensure_same_merchant
from growthloop.core.context import now
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import PageParams, fetch_page


@dataclass(frozen=True)
class ChosenOptions:
    """The options of one order line, every group resolved, and their price delta."""

    values: dict[str, str]
    price_delta: int


def _stored_options(groups: list[OptionGroupIn] | None, price: int) -> list[dict[str, Any]]:
    stored = []
    lowest = price
    for group in groups or []:
        values = group.resolved()
        lowest += min(v.price_delta for v in values)
        stored.append(
            {
                "name": group.name,
                "required": group.required,
                "values": [{"name": v.name, "price_delta": v.price_delta} for v in values],
            }
        )
    if lowest < 1:
        raise InvalidOptions("Some combination of options prices the product below 1 fen.")
    return stored


async def _category_id(session: AsyncSession, merchant_id: str, name: str | None) -> str | None:
    """The id of the merchant's category `name`, created on first use."""
    if name is None:
        return None
    category = await repo.category_by_name(session, merchant_id, name)
    if category is None:
        category = await create_category(session, merchant_id, CategoryIn(name=name))
    return category.id


async def create_category(session: AsyncSession, merchant_id: str, data: CategoryIn) -> Category:
    if await repo.category_by_name(session, merchant_id, data.name) is not None:
        raise CategoryExists(name=data.name)
    category = Category(
        merchant_id=merchant_id, name=data.name, sort=data.sort, created_at=now(session)
    )
    try:
        async with session.begin_nested():
            session.add(category)
    except IntegrityError:
        raise CategoryExists(name=data.name) from None
    menu_changed(session, merchant_id)
    return category


async def list_categories(session: AsyncSession, merchant_id: str) -> list[Category]:
    return await repo.categories(session, merchant_id)


async def create_product(session: AsyncSession, merchant_id: str, data: ProductIn) -> Product:
    at = now(session)
    product = Product(
        **data.model_dump(exclude={"category", "image_urls", "options"}),
        merchant_id=merchant_id,
        category_id=await _category_id(session, merchant_id, data.category),
        image_urls=[str(u) for u in data.image_urls],
        options=_stored_options(data.options, data.price),
        created_at=at,
        updated_at=at,
    )
    session.add(product)
    await session.flush()
    menu_changed(session, merchant_id)
    return product


async def access_product(session: AsyncSession, merchant_id: str, product_id: str) -> Product:
    """The product, if it exists (404) and is this merchant's (403): the campaigns' door."""
    return await get_owned(
        session, Product, product_id, merchant_id, ProductNotFound(product_id=product_id)
    )


async def update_product(
    session: AsyncSession, merchant_id: str, product_id: str, patch: ProductPatch
) -> Product:
    product = await access_product(session, merchant_id, product_id)
    fields = patch.model_dump(exclude_unset=True)
    if "category" in fields:
        product.category_id = await _category_id(session, merchant_id, patch.category)
    for name in ("name", "price", "stock", "description", "on_sale", "sort"):
        if name in fields and fields[name] is not None:
            setattr(product, name, fields[name])
    if patch.image_urls is not None:
        product.image_urls = [str(u) for u in patch.image_urls]
    if "options" in fields or "price" in fields:
        groups = patch.options if "options" in fields else _groups_in(product.options)
        product.options = _stored_options(groups, product.price)
    product.updated_at = now(session)
    await session.flush()
    menu_changed(session, merchant_id)
    return product


def _groups_in(stored: list[dict[str, Any]]) -> list[OptionGroupIn]:
    return [OptionGroupIn.model_validate(g) for g in stored]


async def adjust_stock(
    session: AsyncSession, merchant_id: str, product_id: str, delta: int
) -> Product:
    product = await access_product(session, merchant_id, product_id)
    if not await repo.add_stock(session, merchant_id, product_id, delta):
        raise SoldOut("Stock cannot go below zero.", product_id=product_id)
    menu_changed(session, merchant_id)
    await session.refresh(product)
    return product


async def list_products(
    session: AsyncSession,
    merchant_id: str,
    page: PageParams,
    *,
    on_sale_only: bool,
    category_id: str | None = None,
) -> tuple[list[Product], str | None]:
    """Oldest first; `category_id` must be one of the merchant's categories (404)."""
    if category_id is not None:
        known = {c.id for c in await repo.categories(session, merchant_id)}
        if category_id not in known:
            raise CategoryNotFound(category_id=category_id)
    stmt = repo.products(merchant_id, on_sale_only=on_sale_only, category_id=category_id)
    return await fetch_page(session, stmt, Product.id, page, oldest_first=True)


async def prices_of(session: AsyncSession, product_ids: list[str]) -> dict[str, int]:
    """Regular unit prices (fen, before options) of the products that exist."""
    return {pid: p.price for pid, p in (await repo.products_by_ids(session, product_ids)).items()}


async def products_for_order(
    session: AsyncSession, merchant_id: str, product_ids: list[str]
) -> dict[str, Product]:
    """The products an order names: each must exist (404), be this merchant's (403), on sale."""
    found = await repo.products_by_ids(session, product_ids)
    for pid in product_ids:
        product = found.get(pid)
        if product is None:
            raise ProductNotFound(product_id=pid)
        ensure_same_merchant(product.merchant_id, merchant_id)
        if not product.on_sale:
            raise ProductOffSale(product_id=pid, name=product.name)
    return found


def choose_options(product: Product, chosen: Mapping[str, str] | None) -> ChosenOptions:
    """Resolve a line's options: unknown groups or values are named in a 422; a group left
    out takes its first value unless it is required."""
    chosen = dict(chosen or {})
    groups = {g["name"]: g for g in product.options}
    unknown_groups = sorted(set(chosen) - set(groups))
    if unknown_groups:
        raise UnknownOption(
            f"{product.name} has no option {', '.join(unknown_groups)}.",
            product_id=product.id,
            unknown_groups=unknown_groups,
            known_groups=list(groups),
        )
    values: dict[str, str] = {}
    delta = 0
    for name, group in groups.items():
        by_name = {v["name"]: v for v in group["values"]}
        if name in chosen:
            picked = by_name.get(chosen[name])
            if picked is None:
                raise UnknownOption(
                    f"{product.name}: {name} has no value {chosen[name]}.",
                    product_id=product.id,
                    group=name,
                    unknown_value=chosen[name],
                    known_values=list(by_name),
                )
        elif group["required"]:
            raise OptionRequired(
                f"{product.name}: choose a {name}.", product_id=product.id, group=name
            )
        else:
            picked = group["values"][0]
        values[name] = picked["name"]
        delta += picked["price_delta"]
    return ChosenOptions(values=values, price_delta=delta)


def check_stock(products: Mapping[str, Product], quantities: Mapping[str, int]) -> None:
    """Refuse at once what the rows just read cannot cover: in a rush, sold out is the
    commonest answer and costs no write. Not a hold: `reserve_stock` takes the stock."""
    for product_id in sorted(quantities):
        if products[product_id].stock < quantities[product_id]:
            raise SoldOut(product_id=product_id, requested=quantities[product_id])


async def reserve_stock(
    session: AsyncSession, merchant_id: str, quantities: Mapping[str, int]
) -> None:
    """Take stock for every product or raise `SoldOut` (the caller's rollback undoes the rest).

    Products are taken in id order so concurrent orders lock rows in the same order.
    """
    for product_id in sorted(quantities):
        if not await repo.take_stock(session, merchant_id, product_id, quantities[product_id]):
            raise SoldOut(product_id=product_id, requested=quantities[product_id])
    menu_changed(session, merchant_id)


async def release_stock(
    session: AsyncSession, merchant_id: str, quantities: Mapping[str, int]
) -> None:
    for product_id in sorted(quantities):
        await repo.add_stock(session, merchant_id, product_id, quantities[product_id])
    menu_changed(session, merchant_id)
