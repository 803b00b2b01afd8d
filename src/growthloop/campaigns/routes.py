"""The routes every campaign kind shares, written once.

Operators create, list, read and end a campaign under `/v1/admin/<kind>` (writes need
`marketing.write`, reads `marketing.read`); anyone reads one by id under `/v1/<kind>/{id}`
(a member in their own merchant's shop, a visitor naming the merchant). A campaign kind
hands over its request body, its responses and its service functions in a
`CampaignRoutes`; its own routes (joining a group, helping a bargain...) stay in its
`api.py`.

No `from __future__ import annotations` here: the routes are built at run time and
FastAPI reads their parameters' types from the functions' objects, among them the kind's
own request body and the name of its id in the path.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Path
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.auth import (
    MarketingReader,
    MarketingWriter,
    MerchantQuery,
    OptionalMember,
    SessionDep,
    browsing_merchant,
)
from growthloop.core.pagination import Page, PageDep, PageParams

In = TypeVar("In", bound=BaseModel)
Row = TypeVar("Row")
AdminOut = TypeVar("AdminOut", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


@dataclass(frozen=True, kw_only=True)
class CampaignRoutes(Generic[In, Row, AdminOut, Out]):
    name: str  # "group_buy": routes are named create_group_buy, end_group_buy...
    path: str  # "group-buys": /v1/admin/group-buys, /v1/group-buys/{group_buy_id}
    body: type[In]
    admin_out: type[AdminOut]
    out: type[Out]
    # (session, merchant_id, admin_id, body)
    create: Callable[[AsyncSession, str, str, In], Awaitable[Row]]
    # (session, merchant_id, campaign id): 404 unknown, 403 another merchant's
    get: Callable[[AsyncSession, str, str], Awaitable[Row]]
    # (session, merchant_id, page): the merchant's campaigns, newest first, and the cursor
    page: Callable[[AsyncSession, str, PageParams], Awaitable[tuple[list[Row], str | None]]]
    # (session, merchant_id, admin_id, campaign id)
    end: Callable[[AsyncSession, str, str, str], Awaitable[Row]]
    present_admin: Callable[[AsyncSession, list[Row]], Awaitable[list[AdminOut]]]
    # The public read presents with `present`, or with `present_to` (session, campaign,
    # member id or None) when it shows the viewer's own standing (a lottery's draws left).
    present: Callable[[AsyncSession, list[Row]], Awaitable[list[Out]]] | None = None
    present_to: Callable[[AsyncSession, Row, str | None], Awaitable[Out]] | None = None
    # What the routes' documentation says, by route (create, admin_get, end, get).
    create_description: str | None = None
    admin_get_description: str | None = None
    end_description: str | None = None  # what ending one means for this kind
    get_description: str | None = None
    id_name: str = ""  # the id's name in the paths; "<name>_id" when empty
    plural: str = ""  # for the list route's name (list_group_buys); "<name>s" when empty


def add_campaign_routes(router: APIRouter, kind: CampaignRoutes[In, Row, AdminOut, Out]) -> None:
    """Add the kind's five shared routes to its router."""
    id_name = kind.id_name or f"{kind.name}_id"
    plural = kind.plural or f"{kind.name}s"
    admin_path = f"/v1/admin/{kind.path}"
    one = f"/{{{id_name}}}"

    async def create(body: In, session: SessionDep, admin: MarketingWriter) -> AdminOut:
        row = await kind.create(session, admin.merchant_id, admin.admin_id, body)
        return (await kind.present_admin(session, [row]))[0]

    # The body's type is the kind's request schema (a TypeVar means nothing to FastAPI).
    create.__annotations__["body"] = kind.body

    async def list_campaigns(
        session: SessionDep, page: PageDep, admin: MarketingReader
    ) -> Page[AdminOut]:
        rows, cursor = await kind.page(session, admin.merchant_id, page)
        return Page(items=await kind.present_admin(session, rows), next_cursor=cursor)

    async def admin_get(
        campaign_id: Annotated[str, Path(alias=id_name)],
        session: SessionDep,
        admin: MarketingReader,
    ) -> AdminOut:
        row = await kind.get(session, admin.merchant_id, campaign_id)
        return (await kind.present_admin(session, [row]))[0]

    async def end(
        campaign_id: Annotated[str, Path(alias=id_name)],
        session: SessionDep,
        admin: MarketingWriter,
    ) -> AdminOut:
        row = await kind.end(session, admin.merchant_id, admin.admin_id, campaign_id)
        return (await kind.present_admin(session, [row]))[0]

    async def get(
        campaign_id: Annotated[str, Path(alias=id_name)],
        session: SessionDep,
        member: OptionalMember,
        merchant_id: MerchantQuery = None,
    ) -> Out:
        row = await kind.get(session, browsing_merchant(member, merchant_id), campaign_id)
        if kind.present_to is not None:
            return await kind.present_to(session, row, member.member_id if member else None)
        assert kind.present is not None, "a campaign kind presents its public read"
        return (await kind.present(session, [row]))[0]

    # `Page[kind.admin_out]`, built at run time (mypy takes no variable as a type argument).
    admin_page = Page.__class_getitem__(kind.admin_out)
    router.add_api_route(
        admin_path,
        create,
        methods=["POST"],
        response_model=kind.admin_out,
        status_code=201,
        name=f"create_{kind.name}",
        description=kind.create_description,
    )
    router.add_api_route(
        admin_path,
        list_campaigns,
        methods=["GET"],
        response_model=admin_page,
        name=f"list_{plural}",
    )
    router.add_api_route(
        admin_path + one,
        admin_get,
        methods=["GET"],
        response_model=kind.admin_out,
        name=f"admin_get_{kind.name}",
        description=kind.admin_get_description,
    )
    router.add_api_route(
        admin_path + one + "/end",
        end,
        methods=["POST"],
        response_model=kind.admin_out,
        name=f"end_{kind.name}",
        description=kind.end_description,
    )
    router.add_api_route(
        f"/v1/{kind.path}" + one,
        get,
        methods=["GET"],
        response_model=kind.out,
        name=f"get_{kind.name}",
        description=kind.get_description,
    )
