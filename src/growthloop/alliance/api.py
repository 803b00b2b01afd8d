from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.alliance import presenters, service, tasks
from growthloop.alliance.models import Partnership
from growthloop.alliance.schemas import (
    ExchangeIn,
    ExchangeOut,
    PartnerOut,
    PartnershipIn,
    PartnershipOut,
    PartnershipStatus,
    SettlementOut,
)
from growthloop.alliance.settlement import settlement_csv
from growthloop.core.auth import (
    AllianceReader,
    AnalyticsReader,
    CurrentMember,
    MarketingWriter,
    SessionDep,
)
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep

router = APIRouter(route_class=UnitOfWorkRoute, tags=["alliance"])

BASE = "/v1/admin/alliance/partnerships"


# ---- admin ---------------------------------------------------------------------------


@router.post(BASE, response_model=PartnershipOut, status_code=201)
async def propose(
    body: PartnershipIn,
    session: SessionDep,
    admin: MarketingWriter,
) -> PartnershipOut:
    """Propose a partnership to another merchant; it is active once that merchant accepts.
    `rate`: `points` of ours <-> `partner_points` of theirs, both ways (the reverse is the
    inverse rate)."""
    p = await service.propose(session, admin.merchant_id, admin.admin_id, body)
    return presenters.partnership_out(p, admin.merchant_id)


@router.get(BASE, response_model=Page[PartnershipOut])
async def list_partnerships(
    session: SessionDep,
    page: PageDep,
    admin: AllianceReader,
    status: Annotated[PartnershipStatus | None, Query()] = None,
) -> Page[PartnershipOut]:
    """Partnerships this merchant proposed or was offered, newest first."""
    rows, cursor = await service.list_partnerships(session, admin.merchant_id, page, status)
    return Page(
        items=[presenters.partnership_out(p, admin.merchant_id) for p in rows], next_cursor=cursor
    )


@router.get(BASE + "/{partnership_id}", response_model=PartnershipOut)
async def get_partnership(
    partnership_id: str,
    session: SessionDep,
    admin: AllianceReader,
) -> PartnershipOut:
    p = await service.access_partnership(session, admin.merchant_id, partnership_id)
    return presenters.partnership_out(p, admin.merchant_id)


def _move_route(
    verb: str,
    move: Callable[[AsyncSession, str, str, str], Awaitable[Partnership]],
    description: str | None = None,
) -> None:
    """`POST .../{partnership_id}/<verb>`: an operator of either side moves the status."""

    async def route(
        partnership_id: str,
        session: SessionDep,
        admin: MarketingWriter,
    ) -> PartnershipOut:
        p = await move(session, admin.merchant_id, admin.admin_id, partnership_id)
        return presenters.partnership_out(p, admin.merchant_id)

    router.add_api_route(
        f"{BASE}/{{partnership_id}}/{verb}",
        route,
        methods=["POST"],
        response_model=PartnershipOut,
        name=verb,
        description=description,
    )


_move_route("accept", service.accept)
_move_route(
    "suspend",
    service.suspend,
    "Either merchant stops exchanges at once; only the one that suspended may resume.",
)
_move_route("resume", service.resume)
_move_route(
    "end",
    service.end,
    "Withdraw or decline a proposal, or end the partnership; settlement entries stay.",
)


@router.get(
    BASE + "/{partnership_id}/settlement",
    response_model=SettlementOut,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def settlement(
    partnership_id: str,
    session: SessionDep,
    rt: RuntimeDep,
    admin: AnalyticsReader,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> SettlementOut | Response:
    """Settlement entries between the two merchants for days `from`..`to` (inclusive, your
    timezone; default this month), totals and the net position. `format=csv` downloads the
    entries as CSV (UTF-8 with BOM, opens in Excel). Every export is audit-logged."""
    report = await tasks.settlement_export(
        session, rt.db, admin.merchant_id, admin.admin_id, partnership_id, start, end, format
    )
    if format == "json":
        return report
    filename = f"alliance-settlement-{report.partnership_id}-{report.start}-{report.end}.csv"
    return Response(
        content=(await settlement_csv(session, report)).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ---- consumer ------------------------------------------------------------------------


@router.get("/v1/me/alliance/partners", response_model=list[PartnerOut])
async def my_partners(member: CurrentMember, session: SessionDep) -> list[PartnerOut]:
    """Active partnerships of this merchant, from your side, and whether the partner knows you
    (signed in there with the same account, or the same verified phone)."""
    return await service.partners_for_member(session, member.merchant_id, member.member_id)


@router.post("/v1/me/alliance/exchanges", response_model=ExchangeOut, status_code=201)
async def exchange(body: ExchangeIn, member: CurrentMember, session: SessionDep) -> ExchangeOut:
    """Convert points to the partner's points in one step. 422 `points_not_convertible` (with
    the nearest valid amount), 409 `no_linked_member`, `partnership_not_active`,
    `insufficient_points`, `daily_cap_reached`, `member_daily_cap_reached`."""
    row, balance_after = await service.exchange(
        session, member.merchant_id, member.member_id, body.partnership_id, body.points
    )
    return presenters.exchange_out(row, member.merchant_id, balance_after)


@router.get("/v1/me/alliance/exchanges", response_model=Page[ExchangeOut])
async def my_exchanges(
    member: CurrentMember, session: SessionDep, page: PageDep
) -> Page[ExchangeOut]:
    """Points you sent to partners and points that arrived from them, newest first."""
    rows, cursor = await service.list_exchanges(session, member.merchant_id, member.member_id, page)
    items = [presenters.exchange_out(r, member.merchant_id) for r in rows]
    return Page(items=items, next_cursor=cursor)
