from __future__ import annotations

from fastapi import APIRouter

from growthloop.campaigns.invites import presenters, service
from growthloop.campaigns.invites.schemas import InviteRuleIn, InviteRuleOut, MyInvitesOut
from growthloop.core.auth import CurrentMember, MarketingReader, MarketingWriter, SessionDep
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["invites"])


@router.post("/v1/admin/invite-rules", response_model=InviteRuleOut, status_code=201)
async def create_rule(
    body: InviteRuleIn, session: SessionDep, admin: MarketingWriter
) -> InviteRuleOut:
    rule = await service.create_rule(session, admin.merchant_id, admin.admin_id, body)
    return await presenters.rule_out(session, rule)


@router.get("/v1/admin/invite-rules", response_model=Page[InviteRuleOut])
async def list_rules(
    session: SessionDep, page: PageDep, admin: MarketingReader
) -> Page[InviteRuleOut]:
    rows, cursor = await service.list_rules(session, admin.merchant_id, page)
    return Page(items=await presenters.rules_out(session, rows), next_cursor=cursor)


@router.get("/v1/admin/invite-rules/{rule_id}", response_model=InviteRuleOut)
async def get_rule(rule_id: str, session: SessionDep, admin: MarketingReader) -> InviteRuleOut:
    rule = await service.get_rule(session, admin.merchant_id, rule_id)
    return await presenters.rule_out(session, rule)


@router.post("/v1/admin/invite-rules/{rule_id}/end", response_model=InviteRuleOut)
async def end_rule(rule_id: str, session: SessionDep, admin: MarketingWriter) -> InviteRuleOut:
    rule = await service.end_rule(session, admin.merchant_id, admin.admin_id, rule_id)
    return await presenters.rule_out(session, rule)


@router.get("/v1/me/invites", response_model=MyInvitesOut)
async def my_invites(member: CurrentMember, session: SessionDep) -> MyInvitesOut:
    """The member's code to share and their progress under each running rule."""
    return await service.my_invites(session, member.merchant_id, member.member_id)
