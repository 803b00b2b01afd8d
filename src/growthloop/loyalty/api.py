from __future__ import annotations

from fastapi import APIRouter

from growthloop.core.auth import CurrentMember, MarketingReader, MarketingWriter, SessionDep
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.loyalty import service
from growthloop.loyalty.presenters import ledger_entry_out, program_out
from growthloop.loyalty.schemas import (
    CheckinOut,
    LedgerEntryOut,
    MembershipOut,
    ProgramIn,
    ProgramOut,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["loyalty"])


@router.get("/v1/me/membership", response_model=MembershipOut)
async def my_membership(member: CurrentMember, session: SessionDep) -> MembershipOut:
    return await service.membership(session, member.merchant_id, member.member_id)


@router.get("/v1/me/points/ledger", response_model=Page[LedgerEntryOut])
async def my_ledger(
    member: CurrentMember, session: SessionDep, page: PageDep
) -> Page[LedgerEntryOut]:
    rows, cursor = await service.ledger_page(session, member.merchant_id, member.member_id, page)
    return Page(items=[ledger_entry_out(r) for r in rows], next_cursor=cursor)


@router.post("/v1/me/checkin", response_model=CheckinOut)
async def checkin(member: CurrentMember, session: SessionDep) -> CheckinOut:
    return await service.check_in(session, member.merchant_id, member.member_id)


@router.get("/v1/admin/loyalty/program", response_model=ProgramOut)
async def get_program(session: SessionDep, admin: MarketingReader) -> ProgramOut:
    return program_out(await service.program_of(session, admin.merchant_id))


@router.put("/v1/admin/loyalty/program", response_model=ProgramOut)
async def put_program(body: ProgramIn, session: SessionDep, admin: MarketingWriter) -> ProgramOut:
    return program_out(await service.set_program(session, admin.merchant_id, body))
