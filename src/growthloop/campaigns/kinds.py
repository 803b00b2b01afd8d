"""What every campaign kind's service does alike with its campaigns, written once.

An operator (or a member browsing the shop) reads one of the merchant's campaigns by id
(404 unknown, 403 another merchant's), pages through the merchant's campaigns newest
first, and ends one early (409 when it is already over; audited as `<subject>.end`). A
kind's service names its model, its audit subject and its errors in a `CampaignKind`
and hands out the kind's methods as its own functions (`get_bargain = BARGAINS.get`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import windows
from growthloop.core.errors import Conflict, NotFound
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import PageParams, fetch_page


class CampaignRow(Protocol):
    """A campaign row: the merchant's (`get_owned`), ended early by an operator
    (`windows.Campaign`)."""

    merchant_id: str
    ended_early_at: datetime | None

    @property
    def id(self) -> str: ...

    @property
    def starts_at(self) -> datetime: ...

    @property
    def ends_at(self) -> datetime | None: ...


C = TypeVar("C", bound=CampaignRow)


@dataclass(frozen=True)
class CampaignKind(Generic[C]):
    model: type[C]
    subject_type: str  # "group_buy": its end is audited as `group_buy.end`
    not_found: Callable[[str], NotFound]  # the 404 naming the unknown id
    already_ended: type[Conflict]

    async def get(self, session: AsyncSession, merchant_id: str, campaign_id: str) -> C:
        return await get_owned(
            session, self.model, campaign_id, merchant_id, self.not_found(campaign_id)
        )

    async def page(
        self, session: AsyncSession, merchant_id: str, page: PageParams
    ) -> tuple[list[C], str | None]:
        """The merchant's campaigns of this kind, newest first."""
        table: Any = self.model  # a mapped class: its columns are class attributes
        stmt = select(table).where(table.merchant_id == merchant_id)
        rows, cursor = await fetch_page(session, stmt, table.id, page)
        return rows, cursor

    async def end(
        self, session: AsyncSession, merchant_id: str, admin_id: str, campaign_id: str
    ) -> C:
        """The operator ends the campaign now (409 when it is already over)."""
        campaign = await self.get(session, merchant_id, campaign_id)
        await windows.end_early(
            session,
            campaign,
            admin_id=admin_id,
            subject_type=self.subject_type,
            already_ended=self.already_ended,
        )
        return campaign
