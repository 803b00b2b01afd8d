from __future__ import annotations

from fastapi import APIRouter

from growthloop.campaigns.invites import presenters, service
from growthloop.campaigns.invites.schemas import InviteRuleIn, InviteRuleOut, MyInvitesOut
from growthloop.campaigns.routes import CampaignRoutes, add_campaign_routes
from growthloop.core.auth import CurrentMember, SessionDep
from growthloop.core.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["invites"])

# Operators only: a member sees the running rules through their own progress (/v1/me/invites).
add_campaign_routes(
    router,
    CampaignRoutes(
        name="rule",
        path="invite-rules",
        kind=service.RULES,
        body=InviteRuleIn,
        create=service.create_rule,
        admin_out=InviteRuleOut,
        present_admin=presenters.rules_out,
    ),
)


@router.get("/v1/me/invites", response_model=MyInvitesOut)
async def my_invites(member: CurrentMember, session: SessionDep) -> MyInvitesOut:
    """The member's code to share and their progress under each running rule."""
    return await service.my_invites(session, member.merchant_id, member.member_id)
