"""Mall work that opens a unit of work of its own: the staff's redemptions list when it
reveals shipping contacts (the audit entries commit before any unmasked value leaves)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.auth import AdminPrincipal, Permission
from growthloop.core.db import Database
from growthloop.core.errors import Forbidden
from growthloop.core.pagination import PageParams
from growthloop.mall import fulfilment, presenters, service
from growthloop.mall.schemas import AdminRedemptionOut


async def staff_redemptions(
    session: AsyncSession,
    db: Database,
    admin: AdminPrincipal,
    page: PageParams,
    *,
    member_id: str | None,
    reward_id: str | None,
    status: str | None,
    reveal: bool,
) -> tuple[list[AdminRedemptionOut], str | None]:
    """The merchant's redemptions for staff, newest first, shipping contacts masked. With
    `reveal`, shown in full to staff who ship gifts (orders.fulfil) or handle privacy
    requests, after a `pii.reveal` audit entry per redemption shown has committed: the list
    is read in the request's read transaction, the entries are written in their own (if
    they cannot be written, nothing is shown)."""
    if reveal and not (admin.can(Permission.ORDERS_FULFIL) or admin.can(Permission.PRIVACY_HANDLE)):
        raise Forbidden(
            f"The {admin.role.value} role may not see shipping contacts unmasked.",
            required_permission=Permission.ORDERS_FULFIL.value,
        )
    rows, cursor = await service.list_redemptions(
        session, admin.merchant_id, page, member_id=member_id, reward_id=reward_id, status=status
    )
    if reveal:
        async with db.unit_of_work() as uow:
            await fulfilment.record_reveal(
                uow.session, admin.merchant_id, admin.admin_id, admin.role.value, rows
            )
    return [presenters.admin_redemption_out(r, reveal=reveal) for r in rows], cursor
