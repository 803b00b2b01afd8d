"""Products and categories as the API shows them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.catalog import repository as repo
from growthloop.catalog.models import Category, Product
from growthloop.catalog.schemas import CategoryOut, OptionGroupOut, ProductOut
from growthloop.core.presenting import from_row


def _product_out(product: Product, category_name: str | None) -> ProductOut:
    return from_row(
        ProductOut,
        product,
        category=category_name,
        options=[
            OptionGroupOut(
                name=g["name"],
                required=g["required"],
                values=[v["name"] for v in g["values"]],
                price_deltas={v["name"]: v["price_delta"] for v in g["values"]},
            )
            for g in product.options
        ],
    )


async def products_out(session: AsyncSession, products: list[Product]) -> list[ProductOut]:
    """The products with their categories' names (one query for all of them)."""
    names = await repo.category_names(session, (p.category_id or "" for p in products))
    return [_product_out(p, names.get(p.category_id or "")) for p in products]


async def product_out(session: AsyncSession, product: Product) -> ProductOut:
    return (await products_out(session, [product]))[0]


def category_out(category: Category) -> CategoryOut:
    return CategoryOut.model_validate(category, from_attributes=True)
