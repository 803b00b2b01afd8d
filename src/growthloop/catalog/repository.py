from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Select, Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.catalog.models import Category, Product
from growthloop.core.sql import flush_pending, guarded, table_of

_PRODUCTS_BY_IDS = select(Product).where(Product.id.in_(bindparam("ids", expanding=True)))


async def products_by_ids(session: AsyncSession, ids: Iterable[str]) -> dict[str, Product]:
    ids = list(set(ids))
    if not ids:
        return {}
    rows = (await session.execute(_PRODUCTS_BY_IDS, {"ids": ids})).scalars()
    return {p.id: p for p in rows}


def products(merchant_id: str, *, on_sale_only: bool, category_id: str | None) -> Select[Product]:
    """The merchant's products, filtered (paged oldest first by the caller)."""
    stmt = select(Product).where(Product.merchant_id == merchant_id)
    if on_sale_only:
        stmt = stmt.where(Product.on_sale.is_(True))
    if category_id:
        stmt = stmt.where(Product.category_id == category_id)
    return stmt


async def take_stock(
    session: AsyncSession, merchant_id: str, product_id: str, quantity: int
) -> bool:
    """Guarded atomic decrement: True only if the row had enough stock and is on sale."""
    return await _move_stock(session, _TAKE_STOCK, merchant_id, product_id, -quantity)


async def add_stock(
    session: AsyncSession, merchant_id: str, product_id: str, quantity: int
) -> bool:
    """Guarded atomic change by `quantity` (negative to take): never below zero."""
    return await _move_stock(session, _ADD_STOCK, merchant_id, product_id, quantity)


def _stock_statement(*guards: ColumnElement[bool]) -> Update:
    """The guarded stock change, built once (every order runs it)."""
    t = table_of(Product)
    delta = bindparam("b_delta", type_=t.c.stock.type)
    return (
        update(t)
        .where(
            t.c.id == bindparam("b_product"),
            t.c.merchant_id == bindparam("b_merchant"),
            t.c.stock + delta >= 0,
            *guards,
        )
        .values(stock=t.c.stock + delta)
    )


_TAKE_STOCK = _stock_statement(table_of(Product).c.on_sale.is_(True))
_ADD_STOCK = _stock_statement()


async def _move_stock(
    session: AsyncSession, stmt: Update, merchant_id: str, product_id: str, delta: int
) -> bool:
    await flush_pending(session)
    params = {"b_merchant": merchant_id, "b_product": product_id, "b_delta": delta}
    return await guarded(session, stmt, params)


async def category_by_name(session: AsyncSession, merchant_id: str, name: str) -> Category | None:
    stmt = select(Category).where(Category.merchant_id == merchant_id, Category.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def categories(session: AsyncSession, merchant_id: str) -> list[Category]:
    stmt = (
        select(Category)
        .where(Category.merchant_id == merchant_id)
        .order_by(Category.sort, Category.id)
    )
    return list((await session.execute(stmt)).scalars())


async def category_names(session: AsyncSession, ids: Iterable[str]) -> dict[str, str]:
    ids = [i for i in set(ids) if i]
    if not ids:
        return {}
    rows = await session.execute(select(Category.id, Category.name).where(Category.id.in_(ids)))
    return {row.id: row.name for row in rows}
