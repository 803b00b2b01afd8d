"""Every query of the distribution tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.distribution.models import (
    Commission,
    DistributionSettings,
    PromoterAccount,
    PromoterBinding,
    Withdrawal,
)
from growthloop.core.pagination import PageParams, fetch_page
from growthloop.core.sql import dialect_insert, move_status, sweep_batch, where_given


async def settings_of(session: AsyncSession, merchant_id: str) -> DistributionSettings | None:
    return await session.get(DistributionSettings, merchant_id)


def _active(now: datetime) -> object:
    return PromoterBinding.expires_at.is_(None) | (PromoterBinding.expires_at > now)


async def promoter_of(
    session: AsyncSession, merchant_id: str, member_id: str, now: datetime
) -> str | None:
    """The member's promoter, while the binding lasts."""
    stmt = select(PromoterBinding.promoter_id).where(
        PromoterBinding.merchant_id == merchant_id,
        PromoterBinding.member_id == member_id,
        _active(now),  # type: ignore[arg-type]
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def binding_of(
    session: AsyncSession, merchant_id: str, member_id: str, now: datetime
) -> PromoterBinding | None:
    """The member's binding, while it lasts."""
    stmt = select(PromoterBinding).where(
        PromoterBinding.merchant_id == merchant_id,
        PromoterBinding.member_id == member_id,
        _active(now),  # type: ignore[arg-type]
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def bind(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    promoter_id: str,
    now: datetime,
    expires_at: datetime | None,
) -> bool:
    """Bind, unless a binding that has not lapsed exists (the first binding wins)."""
    b = PromoterBinding
    stmt = (
        dialect_insert(session, b)
        .values(
            merchant_id=merchant_id,
            member_id=member_id,
            promoter_id=promoter_id,
            bound_at=now,
            expires_at=expires_at,
        )
        .on_conflict_do_update(
            index_elements=["merchant_id", "member_id"],
            set_={"promoter_id": promoter_id, "bound_at": now, "expires_at": expires_at},
            where=b.expires_at.is_not(None) & (b.expires_at <= now),
        )
        .returning(b.member_id)
    )
    return (await session.execute(stmt)).first() is not None


async def team_sizes(
    session: AsyncSession, merchant_id: str, promoter_id: str, now: datetime
) -> tuple[int, int]:
    b = PromoterBinding
    level1 = select(b.member_id).where(
        b.merchant_id == merchant_id,
        b.promoter_id == promoter_id,
        _active(now),  # type: ignore[arg-type]
    )
    n1 = await session.scalar(select(func.count()).select_from(level1.subquery()))
    n2 = await session.scalar(
        select(func.count())
        .select_from(b)
        .where(b.merchant_id == merchant_id, b.promoter_id.in_(level1), _active(now))  # type: ignore[arg-type]
    )
    return int(n1 or 0), int(n2 or 0)


async def add_commission(session: AsyncSession, values: dict[str, object]) -> bool:
    stmt = (
        dialect_insert(session, Commission)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["order_id", "level"])
        .returning(Commission.id)
    )
    return (await session.execute(stmt)).first() is not None


async def commissions_of_order(session: AsyncSession, order_id: str) -> list[Commission]:
    stmt = select(Commission).where(Commission.order_id == order_id).order_by(Commission.level)
    return list((await session.execute(stmt)).scalars())


async def schedule_settlement(session: AsyncSession, order_id: str, settle_at: datetime) -> None:
    await session.execute(
        update(Commission)
        .where(Commission.order_id == order_id, Commission.status == "frozen")
        .values(settle_at=settle_at)
    )


async def move_commission(
    session: AsyncSession, commission: Commission, before: str, after: str, **values: object
) -> bool:
    return await move_status(session, commission, before, after, **values)


async def due_to_settle(session: AsyncSession, now: datetime, limit: int) -> list[Commission]:
    stmt = select(Commission).where(Commission.status == "frozen", Commission.settle_at <= now)
    return list((await session.execute(sweep_batch(stmt, Commission.settle_at, limit))).scalars())


async def add_settled(session: AsyncSession, merchant_id: str, member_id: str, amount: int) -> None:
    a = PromoterAccount
    stmt = (
        dialect_insert(session, a)
        .values(merchant_id=merchant_id, member_id=member_id, settled=amount, withdrawn=0)
        .on_conflict_do_update(
            index_elements=["merchant_id", "member_id"], set_={"settled": a.settled + amount}
        )
    )
    await session.execute(stmt)


async def account_of(
    session: AsyncSession, merchant_id: str, member_id: str
) -> PromoterAccount | None:
    return await session.get(PromoterAccount, (merchant_id, member_id))


async def take_withdrawal(
    session: AsyncSession, merchant_id: str, member_id: str, amount: int
) -> bool:
    """Move `amount` from available to withdrawn, only if that much is available."""
    a = PromoterAccount
    result = await session.execute(
        update(a)
        .where(
            a.merchant_id == merchant_id,
            a.member_id == member_id,
            a.settled - a.withdrawn >= amount,
        )
        .values(withdrawn=a.withdrawn + amount)
        .returning(a.member_id)
    )
    return result.first() is not None


async def give_back_withdrawal(
    session: AsyncSession, merchant_id: str, member_id: str, amount: int
) -> None:
    a = PromoterAccount
    await session.execute(
        update(a)
        .where(a.merchant_id == merchant_id, a.member_id == member_id)
        .values(withdrawn=a.withdrawn - amount)
    )


async def totals_by_status(
    session: AsyncSession, merchant_id: str, member_id: str
) -> dict[str, int]:
    c = Commission
    stmt = (
        select(c.status, func.coalesce(func.sum(c.amount), 0))
        .where(c.merchant_id == merchant_id, c.promoter_id == member_id)
        .group_by(c.status)
    )
    return {status: int(total) for status, total in await session.execute(stmt)}


async def list_commissions(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[Commission], str | None]:
    stmt = select(Commission).where(
        Commission.merchant_id == merchant_id, Commission.promoter_id == member_id
    )
    return await fetch_page(session, stmt, Commission.id, page)


async def list_withdrawals(
    session: AsyncSession,
    merchant_id: str,
    page: PageParams,
    *,
    member_id: str | None,
    status: str | None,
) -> tuple[list[Withdrawal], str | None]:
    stmt = where_given(
        select(Withdrawal).where(Withdrawal.merchant_id == merchant_id),
        (Withdrawal.member_id, member_id),
        (Withdrawal.status, status),
    )
    return await fetch_page(session, stmt, Withdrawal.id, page)


async def decide_withdrawal(
    session: AsyncSession, withdrawal: Withdrawal, after: str, **values: object
) -> bool:
    return await move_status(session, withdrawal, "requested", after, **values)
