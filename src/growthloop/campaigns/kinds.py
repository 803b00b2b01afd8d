"""What every campaign kind's service does alike with its campaigns, written once.

An operator creates a campaign (422 `invalid_campaign` when it would end at or before
now; it starts now unless told when; stored and audited as `<subject>.create` with the
operator who made it, in the same transaction), reads one of the merchant's campaigns by
id (404 unknown, 403 another merchant's; members browsing the shop too), pages through
the merchant's campaigns newest first, and ends one early (409 when it is already over;
audited as `<subject>.end`). A kind's service names its model, its audit subject and its
errors in a `CampaignKind`, checks what only it knows (`creation` has the checks campaigns
selling a product share) before `create`, and hands out the methods it calls itself as
its own functions (`get_bargain = BARGAINS.get`); the routes (`routes.py`) call the
kind's `page`, `get` and `end`.

A campaign's columns and its requests and responses use the same names: `create` stores
the request's fields that name a column, `shown` shows the columns a response names;
each kind adds only what differs (a bargain's name is its product's unless given, a
group buy shows the product's regular price...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import windows
from growthloop.campaigns.creation import Request
from growthloop.campaigns.errors import InvalidCampaign
from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.context import now, uow_of
from growthloop.core.errors import Conflict, NotFound
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import PageParams, fetch_page

C = TypeVar("C", bound=windows.Campaign)
Out = TypeVar("Out", bound=BaseModel)


@dataclass(frozen=True)
class CampaignKind(Generic[C]):
    model: type[C]
    subject_type: str  # "group_buy": audited as `group_buy.create`, `group_buy.end`
    not_found: Callable[[str], NotFound]  # the 404 naming the unknown id
    already_ended: type[Conflict]
    audited: tuple[str, ...] = ()  # the columns the audit of a creation names
    # What this process keeps of a campaign, dropped once its end is committed.
    forget: Callable[[str], None] | None = None
    # Invite rules have always been created with an end already past (and so ended at
    # once); every other kind answers 422 `invalid_campaign`.
    past_end_allowed: bool = False

    async def create(
        self,
        session: AsyncSession,
        merchant_id: str,
        admin_id: str,
        data: Request,
        /,
        *,
        details: Mapping[str, Any] | None = None,
        **columns: Any,
    ) -> C:
        """The new campaign: the fields of its creation request `data` that name one of
        its columns, then the `columns` given; stored and audited (naming the `audited`
        columns, then `details`)."""
        at = now(session)
        if not self.past_end_allowed and data.ends_at is not None and data.ends_at <= at:
            raise InvalidCampaign("ends_at is in the past.", ends_at=data.ends_at.isoformat())
        model: Any = self.model  # a mapped class: it takes its columns as keywords
        values = {
            **data.model_dump(include=set(model.__table__.columns.keys())),
            "merchant_id": merchant_id,
            "starts_at": data.starts_at or at,
            "created_at": at,
            **columns,
        }
        campaign: C = model(**values)
        session.add(campaign)
        await session.flush()
        await audit.by_admin(
            session,
            merchant_id,
            admin_id,
            Action(f"{self.subject_type}.create"),
            subject_type=self.subject_type,
            subject_id=campaign.id,
            **{name: values[name] for name in self.audited},
            **(details or {}),
        )
        return campaign

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
        return await fetch_page(session, stmt, table.id, page)

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
        if self.forget is not None:
            forget, campaign_id = self.forget, campaign.id
            uow_of(session).after_commit(lambda: forget(campaign_id))
        return campaign


def shown(out: type[Out], campaign: windows.Campaign, at: datetime, /, **fields: Any) -> Out:
    """The campaign as `out` shows it: the `fields` given, its `status` at `at` unless they
    name their own, and every other field from the campaign's column of the same name."""
    if "status" not in fields:
        fields["status"] = windows.status(campaign, at)
    return out(**{n: fields[n] if n in fields else getattr(campaign, n) for n in out.model_fields})
