"""`/v1/admin/members`: the merchant's members, searched, filtered and exported."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from growthloop.core.auth import MembersExporter, MembersReader, SessionDep
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.profiles import service, tasks
from growthloop.profiles.schemas import MemberDetailOut, MemberItemOut, Platform
from growthloop.profiles.service import MemberFilters

router = APIRouter(route_class=UnitOfWorkRoute, tags=["members"])

QQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description=(
            "A phone number (the whole number: matched by its keyed hash), or text found in "
            "the nickname, or a member id or external id."
        ),
    ),
]
ExternalIdQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=128,
        description="A platform external id: openid, unionid, the dev code, an import id.",
    ),
]
TierQuery = Annotated[
    str | None, Query(min_length=1, max_length=32, description="A tier of the programme.")
]
PlatformQuery = Annotated[Platform | None, Query(description="Has an account on this end.")]


class CSVResponse(StreamingResponse):
    media_type = "text/csv"


async def _filters(
    q: QQuery = None,
    external_id: ExternalIdQuery = None,
    tier: TierQuery = None,
    platform: PlatformQuery = None,
) -> MemberFilters:
    """The list's and the export's filters, from the query string."""
    return MemberFilters(
        q=q.strip() or None if q else None,
        external_id=external_id,
        tier=tier,
        platform=platform,
    )


# Routes take it before `PageDep`: the filters lead the query parameters, as they always did.
FiltersDep = Annotated[MemberFilters, Depends(_filters)]


@router.get("/v1/admin/members", response_model=Page[MemberItemOut])
async def list_members(
    session: SessionDep,
    rt: RuntimeDep,
    filters: FiltersDep,
    page: PageDep,
    admin: MembersReader,
) -> Page[MemberItemOut]:
    """The merchant's members, newest first, with their tier, points, orders and spend and
    the phone masked. Filters combine. A name search opens nicknames (sealed at rest) as it
    goes and reads a bounded number of members per request: a page may then hold fewer
    items than `limit` while `next_cursor` is set; follow it to search on. 422
    `unknown_tier` for a tier the programme does not have."""
    items, cursor = await service.list_members(
        session, admin.merchant_id, filters, page, secret=rt.settings.secret_key
    )
    return Page(items=items, next_cursor=cursor)


@router.get(
    "/v1/admin/members/export.csv",
    response_class=CSVResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_members(
    session: SessionDep,
    rt: RuntimeDep,
    filters: FiltersDep,
    admin: MembersExporter,
) -> CSVResponse:
    """Every member the same filters select, as CSV (UTF-8 with BOM; phones masked; times
    in the merchant's timezone), streamed. A bulk read of personal data: owner and operator
    only, and every export is audit-logged before the first row is sent."""
    rows = await tasks.export_members(
        session, rt.db, admin.merchant_id, admin.admin_id, filters, secret=rt.settings.secret_key
    )
    return CSVResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="members.csv"'},
    )


@router.get("/v1/admin/members/{member_id}", response_model=MemberDetailOut)
async def member_detail(
    member_id: str,
    session: SessionDep,
    admin: MembersReader,
) -> MemberDetailOut:
    """One member: the list's fields, their accounts (platforms, no ids), who invited them
    and their active days. 403 for another merchant's member."""
    return await service.member_detail(session, admin.merchant_id, member_id)
