"""The consent ledger: what each member decided on each purpose of the privacy policy, under
which policy version, when and on which platform. Never commits: the caller's unit of work
does.

Other domains ask `has_consent` before using data for a purpose, and `record_consent` when a
member decides through them (e.g. 支付即会员 at checkout). Every change appends a ledger row,
writes an audit entry and emits `consent.changed`, all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance import notice
from growthloop.compliance import repository as repo
from growthloop.compliance.errors import (
    EssentialNotRefusable,
    GuardianConsentRequired,
    NoPurposes,
    SeparateConsentRequired,
    UnknownMerchant,
    UnknownPurpose,
)
from growthloop.compliance.events import ConsentChanged
from growthloop.compliance.models import ConsentRecord, ConsentState
from growthloop.compliance.policy import BY_KEY, POLICY_VERSION, PURPOSES, Purpose
from growthloop.compliance.registry import registry_of
from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.context import context_of, now
from growthloop.core.events import emit
from growthloop.core.ids import new_id
from growthloop.core.pagination import PageParams, fetch_page


def purpose_of(key: str) -> Purpose:
    try:
        return BY_KEY[key]
    except KeyError:
        raise UnknownPurpose(purposes=[key]) from None


async def has_consent(
    session: AsyncSession, merchant_id: str, member_id: str, purpose: str
) -> bool:
    """True when the member's latest decision on `purpose` is a grant (essential: always)."""
    if purpose_of(purpose).required:
        return True
    state = await repo.state_of(session, merchant_id, member_id, purpose)
    return state is not None and state.granted


async def decisions(
    session: AsyncSession, merchant_id: str, member_ids: set[str], purposes: list[str]
) -> dict[tuple[str, str], bool]:
    """Several members' decisions at once: (member, purpose) -> granted; undecided ones are
    absent. For the domains that filter a batch (analytics ingestion)."""
    if not member_ids:
        return {}
    return await repo.decisions_of(session, merchant_id, sorted(member_ids), purposes)


MINOR_AGE = 14  # PIPL art.31: under 14, a guardian's consent


async def is_minor(session: AsyncSession, merchant_id: str, member_id: str) -> bool:
    """Under 14 by the birthday the member gave (unknown: not a minor, as we cannot know)."""
    born = await context_of(session).members.birthday(session, merchant_id, member_id)
    if born is None:
        return False
    today = now(session).date()
    age: int = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return age < MINOR_AGE


async def _guardian_allows(
    session: AsyncSession, merchant_id: str, member_id: str, grants: list[str]
) -> bool:
    """False when a minor would grant a purpose before their guardian consented."""
    wanted = [g for g in grants if g != "guardian"]
    if not wanted or not await is_minor(session, merchant_id, member_id):
        return True
    if "guardian" in grants:
        return True
    state = await repo.state_of(session, merchant_id, member_id, "guardian")
    return state is not None and bool(state.granted)


async def _platform(session: AsyncSession, merchant_id: str, member_id: str) -> str | None:
    return await context_of(session).members.signup_platform(session, merchant_id, member_id)


async def _apply(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    purpose: str,
    granted: bool,
    *,
    source: str,
    platform: str | None,
) -> bool:
    record = ConsentRecord(
        id=new_id(),
        merchant_id=merchant_id,
        member_id=member_id,
        purpose=purpose,
        granted=granted,
        policy_version=POLICY_VERSION,
        platform=platform,
        source=source,
        created_at=now(session),
    )
    if not await repo.change_state(session, record):
        return False
    repo.append(session, record)
    by_member = source == "member"
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="member" if by_member else "system",
        actor_id=member_id if by_member else None,
        action=Action.CONSENT_GRANT if granted else Action.CONSENT_REFUSE,
        subject_type="consent",
        subject_id=record.id,
        member_id=member_id,
        purpose=purpose,
        granted=granted,
        policy_version=POLICY_VERSION,
        platform=platform,
        source=source,
    )
    await emit(
        session,
        ConsentChanged(
            merchant_id=merchant_id,
            member_id=member_id,
            purpose=purpose,
            granted=granted,
            policy_version=POLICY_VERSION,
        ),
    )
    return True


async def record_consent(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    purpose: str,
    granted: bool,
    *,
    source: str,
    platform: str | None = None,
) -> bool:
    """Records one decision; True if it changed the member's state (a ledger row was
    appended). `platform` defaults to the member's sign-up platform."""
    if purpose_of(purpose).required:
        if not granted:
            raise EssentialNotRefusable(purposes=[purpose])
        return False
    if granted and not await _guardian_allows(session, merchant_id, member_id, [purpose]):
        return False  # a minor's checkout (支付即会员) goes on without it
    if platform is None:
        platform = await _platform(session, merchant_id, member_id)
    return await _apply(
        session, merchant_id, member_id, purpose, granted, source=source, platform=platform
    )


async def set_consents(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    choices: Mapping[str, bool],
    *,
    source: str = "member",
) -> list[str]:
    """A member's decisions on several purposes; returns the purposes whose state changed.
    Everything is checked before anything is written."""
    if not choices:
        raise NoPurposes()
    unknown = sorted(k for k in choices if k not in BY_KEY)
    if unknown:
        raise UnknownPurpose(purposes=unknown)
    refused = sorted(k for k, v in choices.items() if BY_KEY[k].required and not v)
    if refused:
        raise EssentialNotRefusable(purposes=refused)
    current = {s.purpose: s.granted for s in await repo.states_of(session, merchant_id, member_id)}
    new_grants = [
        k for k, v in choices.items() if v and not BY_KEY[k].required and current.get(k) is not True
    ]
    bundled = sorted(k for k in new_grants if BY_KEY[k].separate)
    if bundled and len(new_grants) > 1:
        raise SeparateConsentRequired(purposes=bundled)
    if not await _guardian_allows(session, merchant_id, member_id, new_grants):
        raise GuardianConsentRequired(purposes=sorted(new_grants))
    changed: list[str] = []
    platform: str | None = None
    # Sorted: concurrent requests of one member lock the state rows in the same order.
    for key in sorted(k for k in choices if not BY_KEY[k].required):
        if current.get(key) is choices[key]:
            continue
        if platform is None:
            platform = await _platform(session, merchant_id, member_id)
        if await _apply(
            session, merchant_id, member_id, key, choices[key], source=source, platform=platform
        ):
            changed.append(key)
    return changed


@dataclass(frozen=True)
class Consents:
    """The member's current decisions by purpose (undecided purposes absent), and the
    purposes to ask them about now."""

    states: dict[str, ConsentState]
    to_ask: list[str]


async def consents_of(session: AsyncSession, merchant_id: str, member_id: str) -> Consents:
    """To ask: the purposes never decided, or changed by a policy version after the
    member's decision (a refusal is not asked again until then); a guardian's consent only
    of a member under 14."""
    states = {s.purpose: s for s in await repo.states_of(session, merchant_id, member_id)}
    minor = await is_minor(session, merchant_id, member_id)
    to_ask = [
        p.key
        for p in PURPOSES
        if not p.required
        and (p.key != "guardian" or minor)
        and (p.key not in states or states[p.key].policy_version < p.since)
    ]
    return Consents(states, to_ask)


async def consent_history(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[ConsentRecord], str | None]:
    """The member's ledger, newest first."""
    return await fetch_page(session, repo.ledger_of(merchant_id, member_id), ConsentRecord.id, page)


async def privacy_notice(session: AsyncSession, merchant_id: str | None) -> dict[str, Any]:
    """The privacy notice rendered from the data map every domain declared; with
    `merchant_id` it names the shop (UnknownMerchant for an unknown one)."""
    registry = registry_of(session)
    name = None
    if merchant_id is not None and registry.merchant_name is not None:
        name = await registry.merchant_name(session, merchant_id)
        if name is None:
            raise UnknownMerchant(merchant_id=merchant_id)
    return notice.render(registry.data_map, merchant=name)
