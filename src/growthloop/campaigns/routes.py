"""The routes every campaign kind shares, written once.

Operators create, list, read and end a campaign under `/v1/admin/<kind>` (writes need
`marketing.write`, reads `marketing.read`); anyone reads one by id under `/v1/<kind>/{id}`
(a member in their own merchant's shop, a visitor naming the merchant), unless the kind
shows its campaigns to operators only (invite rules). A campaign kind hands over its
`CampaignKind`, its creation, its request body and its responses in a `CampaignRoutes`;
its own routes (joining a group, helping a bargain...) stay in its `api.py`, take
`PaymentWindow` when they create an order at the campaign's price, and are
`created_or_found` when asking again gives the member what they already have.

No `from __future__ import annotations` here: the routes are built at run time and
FastAPI reads their parameters' types from the functions' objects, among them the kind's
own request body and the name of its id in the path.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.kinds import CampaignKind
from growthloop.campaigns.windows import Campaign
from growthloop.core.auth import Browsing, MarketingReader, MarketingWriter, SessionDep
from growthloop.core.pagination import Page, PageDep
from growthloop.core.runtime import RuntimeDep

In = TypeVar("In", bound=BaseModel)
Row = TypeVar("Row", bound=Campaign)
AdminOut = TypeVar("AdminOut", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


async def _payment_window(rt: RuntimeDep) -> timedelta:
    return timedelta(minutes=rt.settings.payment_window_minutes)


# How long an order at a campaign's price waits for its payment (the shop's setting).
PaymentWindow = Annotated[timedelta, Depends(_payment_window)]


def created_or_found(model: type[BaseModel], found: str) -> dict[str, Any]:
    """The options of a POST that answers 201 with the `model` it created, or 200 with the
    one already there (`found` says which); the route tells them apart with `answer_found`."""
    return {
        "response_model": model,
        "status_code": 201,
        "responses": {200: {"model": model, "description": found}},
    }


def answer_found(response: Response, created: bool) -> None:
    if not created:
        response.status_code = 200


@dataclass(frozen=True, kw_only=True)
class CampaignRoutes(Generic[In, Row, AdminOut, Out]):
    name: str  # "group_buy": routes are named create_group_buy, end_group_buy...
    # "group-buys": /v1/admin/group-buys, /v1/group-buys/{group_buy_id} (the id: <name>_id)
    path: str
    kind: CampaignKind[Row]  # reads, pages and ends the campaigns
    body: type[In]
    # (session, merchant_id, admin_id, body)
    create: Callable[[AsyncSession, str, str, In], Awaitable[Row]]
    admin_out: type[AdminOut]
    present_admin: Callable[[AsyncSession, list[Row]], Awaitable[list[AdminOut]]]
    # The public read, when the kind has one, presents with `present`, or with
    # `present_to` (session, campaign, member id or None) when it shows the viewer's own
    # standing (a lottery's draws left). Without one, the operators' read takes its name
    # (get_<name>).
    out: type[Out] | None = None
    present: Callable[[AsyncSession, list[Row]], Awaitable[list[Out]]] | None = None
    present_to: Callable[[AsyncSession, Row, str | None], Awaitable[Out]] | None = None
    # What the routes' documentation says, by route (create, admin_get, end, get).
    create_description: str | None = None
    admin_get_description: str | None = None
    end_description: str | None = None  # what ending one means for this kind
    get_description: str | None = None
    plural: str = ""  # for the list route's name (list_group_buys); "<name>s" when empty


def add_campaign_routes(router: APIRouter, routes: CampaignRoutes[In, Row, AdminOut, Out]) -> None:
    """Add the kind's shared routes to its router: four for operators, and the public
    read when the kind has one."""
    id_name = f"{routes.name}_id"
    admin_path = f"/v1/admin/{routes.path}"
    one = f"{admin_path}/{{{id_name}}}"
    CampaignId = Annotated[str, Path(alias=id_name)]

    async def admin_one(session: AsyncSession, row: Row) -> AdminOut:
        return (await routes.present_admin(session, [row]))[0]

    async def create(body: In, session: SessionDep, admin: MarketingWriter) -> AdminOut:
        return await admin_one(
            session, await routes.create(session, admin.merchant_id, admin.admin_id, body)
        )

    # The body's type is the kind's request schema (a TypeVar means nothing to FastAPI).
    create.__annotations__["body"] = routes.body

    async def list_campaigns(
        session: SessionDep, page: PageDep, admin: MarketingReader
    ) -> Page[AdminOut]:
        rows, cursor = await routes.kind.page(session, admin.merchant_id, page)
        return Page(items=await routes.present_admin(session, rows), next_cursor=cursor)

    async def admin_get(
        campaign_id: CampaignId, session: SessionDep, admin: MarketingReader
    ) -> AdminOut:
        return await admin_one(
            session, await routes.kind.get(session, admin.merchant_id, campaign_id)
        )

    async def end(campaign_id: CampaignId, session: SessionDep, admin: MarketingWriter) -> AdminOut:
        row = await routes.kind.end(session, admin.merchant_id, admin.admin_id, campaign_id)
        return await admin_one(session, row)

    async def get(campaign_id: CampaignId, session: SessionDep, browser: Browsing) -> Out:
        row = await routes.kind.get(session, browser.merchant_id(), campaign_id)
        if routes.present_to is not None:
            return await routes.present_to(session, row, browser.member_id)
        assert routes.present is not None, "a campaign kind presents its public read"
        return (await routes.present(session, [row]))[0]

    name, plural = routes.name, routes.plural or f"{routes.name}s"
    out, public = routes.admin_out, routes.out
    # `Page[out]`, built at run time (mypy takes no variable as a type argument).
    page_out = Page.__class_getitem__(out)
    # Without a public read to tell it from, the operators' read is get_<name>.
    admin_get_name = f"admin_get_{name}" if public is not None else f"get_{name}"
    table: list[tuple[str, str, Callable[..., Any], Any, int | None, str, str | None]] = [
        # method, path, endpoint, response model, status, route name, description
        ("POST", admin_path, create, out, 201, f"create_{name}", routes.create_description),
        ("GET", admin_path, list_campaigns, page_out, None, f"list_{plural}", None),
        ("GET", one, admin_get, out, None, admin_get_name, routes.admin_get_description),
        ("POST", f"{one}/end", end, out, None, f"end_{name}", routes.end_description),
    ]
    if public is not None:
        path = f"/v1/{routes.path}/{{{id_name}}}"
        table.append(("GET", path, get, public, None, f"get_{name}", routes.get_description))
    for method, path, endpoint, model, status, route_name, description in table:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            response_model=model,
            status_code=status,
            name=route_name,
            description=description,
        )
