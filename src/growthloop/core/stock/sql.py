"""The SQL stock backend: guarded UPDATEs in the caller's transaction.

`stock_pools.units_left` only moves through `UPDATE .. SET units_left = units_left - n
WHERE units_left >= n`,
and a holder's units through an upsert guarded by the limit; a statement whose row count
is zero took nothing, and the caller's rollback undoes the other half.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Integer, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from growthloop.core.models import Base, col
from growthloop.core.sql import dialect_insert
from growthloop.core.stock import HolderLimitReached, PoolSoldOut


class StockPool(Base):
    __tablename__ = "stock_pools"

    pool: Mapped[str] = col(String(64), primary_key=True, pii=None)
    units_left: Mapped[int] = col(Integer, nullable=False, pii=None)

    __table_args__ = (CheckConstraint("units_left >= 0", name="not_oversold"),)


class StockPoolHolder(Base):
    __tablename__ = "stock_pool_holders"

    pool: Mapped[str] = col(String(64), primary_key=True, pii=None)
    holder: Mapped[str] = col(String(26), primary_key=True, pii=None)
    units: Mapped[int] = col(Integer, nullable=False, pii=None)

    __table_args__ = (CheckConstraint("units >= 0", name="units"),)


def _need(session: AsyncSession | None) -> AsyncSession:
    if session is None:
        raise RuntimeError("the sql stock backend works inside the caller's transaction")
    return session


class SqlStock:
    name = "sql"
    transactional = True

    async def open_pool(self, session: AsyncSession, pool: str, stock: int) -> None:
        session.add(StockPool(pool=pool, units_left=stock))
        await session.flush()

    async def take(
        self, session: AsyncSession | None, pool: str, holder: str, quantity: int, limit: int
    ) -> int:
        s = _need(session)
        if quantity > limit:
            raise HolderLimitReached(limit=limit, held=0)
        units = StockPoolHolder.units
        # The holder first: a member over their limit never contends for the pool's row.
        stmt = (
            dialect_insert(s, StockPoolHolder)
            .values(pool=pool, holder=holder, units=quantity)
            .on_conflict_do_update(
                index_elements=["pool", "holder"],
                set_={"units": units + quantity},
                where=units + quantity <= limit,
            )
            .returning(units)
        )
        if (await s.execute(stmt)).first() is None:
            raise HolderLimitReached(limit=limit)
        left = (
            await s.execute(
                update(StockPool)
                .where(StockPool.pool == pool, StockPool.units_left >= quantity)
                .values(units_left=StockPool.units_left - quantity)
                .returning(StockPool.units_left)
            )
        ).scalar_one_or_none()
        if left is None:
            raise PoolSoldOut(left=await self.left(s, pool) or 0)
        return int(left)

    async def give_back(
        self, session: AsyncSession | None, pool: str, holder: str, quantity: int
    ) -> None:
        s = _need(session)
        await s.execute(
            update(StockPoolHolder)
            .where(StockPoolHolder.pool == pool, StockPoolHolder.holder == holder)
            .values(units=StockPoolHolder.units - quantity)
        )
        await s.execute(
            update(StockPool)
            .where(StockPool.pool == pool)
            .values(units_left=StockPool.units_left + quantity)
        )

    async def left(self, session: AsyncSession | None, pool: str) -> int | None:
        s = _need(session)
        found = (
            await s.execute(select(StockPool.units_left).where(StockPool.pool == pool))
        ).scalar_one_or_none()
        return int(found or 0)

    async def close(self) -> None:
        return None
