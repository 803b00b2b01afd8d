from __future__ import annotations

from fastapi import APIRouter

from growthloop.campaigns.invites import service
from growthloop.campaigns.invites.schemas import InviteRuleIn, InviteRuleOut, MyInvitesOut
from growthloop.core.auth import AdminPrincipal, CurrentMember, Permission, SessionDep, require
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["invites"])


@router.post("/v1/admin/invite-rules", response_model=InviteRuleOut, status_code=201)
async def create_rule(
    body: InviteRuleIn,
    session: SessionDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> InviteRuleOut:
    rule = await service.create_rule(session, admin.merchant_id, admin.admin_id, body)
    return (await service.rules_out(session, [rule]))[0]


@router.get("/v1/admin/invite-rules", response_model=Page[InviteRuleOut])
async def list_rules(
    session: SessionDep, page: PageDep, admin: AdminPrincipal = require(Permission.CATALOG_READ)
) -> Page[InviteRuleOut]:
    rows, cursor = await service.list_rules(session, admin.merchant_id, page)
    return Page(items=await service.rules_out(session, rows), next_cursor=cursor)


@router.get("/v1/admin/invite-rules/{rule_id}", response_model=InviteRuleOut)
async def get_rule(
    rule_id: str, session: SessionDep, admin: AdminPrincipal = require(Permission.CATALOG_READ)
) -> InviteRuleOut:
    rule = await service.access_rule(session, admin.merchant_id, rule_id)
    return (await service.rules_out(session, [rule]))[0]


@router.post("/v1/admin/invite-rules/{rule_id}/end", response_model=InviteRuleOut)
async def end_rule(
    rule_id: str,
    session: SessionDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> InviteRuleOut:
    rule = await service.end_rule(session, admin.merchant_id, admin.admin_id, rule_id)
    return (await service.rules_out(session, [rule]))[0]


@router.get("/v1/me/invites", response_model=MyInvitesOut)
async def my_invites(member: CurrentMember, session: SessionDep) -> MyInvitesOut:
    """The member's code to share and their progress under each running rule."""
    return await service.my_invites(session, member.merchant_id, member.member_id)
