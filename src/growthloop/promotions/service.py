"""Coupon rules: templates, claiming and issuing under limits, the member's wallet. Never
commits. The coupon lifecycle orders drives (quote -> lock -> redeem, or release; restore
on refund) is in `checkout`, handed to orders from here.

Limits are guarded UPDATEs whose rowcount is checked, never a read followed by a write.
Every path that grants a coupon takes the template's counter before the member's, so
concurrent claims and issues lock rows in the same order and cannot deadlock. A keyed grant
(`grant_coupon`) first inserts its coupon row under the key: only grants with the same key
ever wait on that row, and they take the counters in the same order afterwards.

Automatic issuance (coupons on registration, enrolment, birthdays and tier upgrades) reacts
to identity's and loyalty's events in `handlers`; `presenters` shows templates and coupons.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core import audit, references
from growthloop.core.audit import Action
from growthloop.core.auth import PrincipalValidator
from growthloop.core.context import now
from growthloop.core.events import emit
from growthloop.core.ids import new_id
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import PageParams, fetch_page
from growthloop.promotions import repository as repo
from growthloop.promotions.checkout import (
    CouponLine,
    CouponQuote,
    discount_for,
    eligible_amount,
    lock,
    quote,
    redeem,
    release,
    restore,
)
from growthloop.promotions.errors import (
    CouponExpired,
    CouponInactive,
    CouponNotFound,
    CouponSoldOut,
    InvalidTemplate,
    IssueKeyReused,
    LimitReached,
    NotClaimable,
    TemplateClaimable,
)
from growthloop.promotions.events import CouponClaimed
from growthloop.promotions.models import Coupon, CouponTemplate
from growthloop.promotions.schemas import (
    CouponSource,
    CouponStatus,
    CouponTemplateIn,
    CouponTemplatePatch,
    IssueOut,
    IssueResultOut,
    Obtain,
    SkipReason,
)

__all__ = [
    "CouponLine",
    "CouponQuote",
    "discount_for",
    "eligible_amount",
    "lock",
    "quote",
    "redeem",
    "release",
    "restore",
]

MAX_ISSUE_KEY = 128  # Coupon.issue_key

# ---- templates -----------------------------------------------------------------------


async def create_template(
    session: AsyncSession, merchant_id: str, data: CouponTemplateIn
) -> CouponTemplate:
    """422 `unknown_product` / `unknown_category` when the scope names one that is not the
    merchant's (through the kernel: catalog is a sibling this domain may not import)."""
    await references.check(
        session, merchant_id, table="products", field="product_ids", ids=data.product_ids
    )
    await references.check(
        session, merchant_id, table="categories", field="category_ids", ids=data.category_ids
    )
    obtain: Obtain = data.obtain or ("grant" if data.auto_issue is not None else "claim")
    at = now(session)
    listed = ("product_ids", "category_ids", "auto_issue_tiers")  # each kept once, in order
    template = CouponTemplate(
        **data.model_dump(exclude={*listed, "obtain"}),
        **{name: list(dict.fromkeys(getattr(data, name))) for name in listed},
        merchant_id=merchant_id,
        obtain=obtain,
        claimed=0,
        created_at=at,
        updated_at=at,
    )
    session.add(template)
    await session.flush()
    return template


async def get_template(session: AsyncSession, merchant_id: str, template_id: str) -> CouponTemplate:
    """The merchant's template: 404 when there is none, 403 when it is another merchant's."""
    return await get_owned(
        session, CouponTemplate, template_id, merchant_id, CouponNotFound(template_id=template_id)
    )


async def reward_template(
    session: AsyncSession, merchant_id: str, template_id: str, *, field: str
) -> CouponTemplate:
    """The template a programme reward gives (a mall reward, a lottery prize, an invite
    reward), named by the request's `field`: 422 `unknown_coupon_template` unless it is the
    merchant's, 422 `coupon_template_claimable` when members can claim it for free (what
    they would pay points or invites for)."""
    await references.check(
        session, merchant_id, table="coupon_templates", field=field, ids=[template_id]
    )
    template = await get_template(session, merchant_id, template_id)
    if template.obtain == "claim":
        raise TemplateClaimable(
            f"{field}: members can claim coupon template {template.id} for free; make it "
            f'granted-only (PATCH /v1/admin/coupons/{template.id} {{"obtain": "grant"}}) to '
            "give it as a reward.",
            field=field,
            template_id=template.id,
        )
    return template


async def update_template(
    session: AsyncSession,
    merchant_id: str,
    template_id: str,
    patch: CouponTemplatePatch,
) -> CouponTemplate:
    """`active` and `obtain`; an automatically issued template stays granted-only."""
    template = await get_template(session, merchant_id, template_id)
    if patch.obtain == "claim" and template.auto_issue is not None:
        raise InvalidTemplate(
            "An automatically issued template is granted, not claimed.",
            template_id=template.id,
            auto_issue=template.auto_issue,
        )
    if patch.active is not None:
        template.active = patch.active
    if patch.obtain is not None:
        template.obtain = patch.obtain
    template.updated_at = now(session)
    await session.flush()
    return template


async def list_templates(
    session: AsyncSession, merchant_id: str, page: PageParams, *, obtain: Obtain | None = None
) -> tuple[list[CouponTemplate], str | None]:
    """Every template of the merchant, or those obtained by `obtain`, newest first."""
    return await fetch_page(
        session, repo.templates(merchant_id, obtain=obtain), CouponTemplate.id, page
    )


async def coupon_centre(
    session: AsyncSession, merchant_id: str, page: PageParams
) -> tuple[list[CouponTemplate], str | None]:
    """What members see in the coupon centre now: claimable templates that are active, not
    sold out and not ended. Granted-only ones (gifts, rewards) are not listed."""
    stmt = repo.templates(merchant_id, obtain="claim", claimable_at=now(session))
    return await fetch_page(session, stmt, CouponTemplate.id, page)


# ---- claiming and issuing ------------------------------------------------------------


def _check_grantable(template: CouponTemplate, now: datetime) -> None:
    if not template.active:
        raise CouponInactive(template_id=template.id)
    if template.valid_until is not None and template.valid_until <= now:
        raise CouponExpired(template_id=template.id, valid_until=template.valid_until.isoformat())


def _validity(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime | None]:
    if template.valid_days is not None:
        return now, now + timedelta(days=template.valid_days)
    return template.valid_from or now, template.valid_until


async def _grant(
    session: AsyncSession,
    template: CouponTemplate,
    member_id: str,
    source: CouponSource,
    now: datetime,
    *,
    issue_key: str | None = None,
) -> Coupon | None:
    """One coupon of `template` to `member_id`, or CouponSoldOut / LimitReached.

    With an `issue_key` the coupon row is inserted first, unless the key is taken: then
    nothing is written and None is returned (the caller reads the coupon under the key).
    A refusal leaves the inserted row to the caller's rollback or savepoint."""
    valid_from, valid_until = _validity(template, now)
    coupon_id = new_id()
    values: dict[str, object] = {
        "id": coupon_id,
        "merchant_id": template.merchant_id,
        "template_id": template.id,
        "member_id": member_id,
        "status": "available",
        "source": source,
        "issue_key": issue_key,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "claimed_at": now,
    }
    if issue_key is not None and not await repo.insert_keyed_coupon(session, values):
        return None
    if not await repo.take_from_total(session, template.id):
        raise CouponSoldOut(template_id=template.id)
    if not await repo.take_from_member_limit(session, template, member_id):
        raise LimitReached(template_id=template.id, per_member_limit=template.per_member_limit)
    if issue_key is None:
        coupon = Coupon(**values)
        session.add(coupon)
        await session.flush()
    else:
        loaded = await repo.get_coupon(session, coupon_id)
        assert loaded is not None  # inserted above, in this transaction
        coupon = loaded
    await emit(
        session,
        CouponClaimed(
            merchant_id=template.merchant_id,
            member_id=member_id,
            template_id=template.id,
            coupon_id=coupon.id,
            source=source,
        ),
    )
    return coupon


async def _granted(
    session: AsyncSession,
    template: CouponTemplate,
    member_id: str,
    source: CouponSource,
    now: datetime,
) -> Coupon:
    coupon = await _grant(session, template, member_id, source, now)
    assert coupon is not None  # only keyed grants can find their key taken
    return coupon


async def claim(
    session: AsyncSession, *, merchant_id: str, member_id: str, template_id: str
) -> Coupon:
    """A member takes a coupon; a refusal rolls back the whole request, counters included.
    A granted-only template is refused (403 `not_claimable`) whatever its state."""
    template = await get_template(session, merchant_id, template_id)
    if template.obtain != "claim":
        raise NotClaimable(template_id=template.id)
    at = now(session)
    _check_grantable(template, at)
    return await _granted(session, template, member_id, "claim", at)


async def grant_coupon(
    session: AsyncSession,
    merchant_id: str,
    template_id: str,
    member_id: str,
    *,
    source: CouponSource,
    key: str,
) -> Coupon:
    """One coupon to a member the caller vouches for, under the template's total and
    per-member limits, idempotent by `key` (unique per merchant): the same key returns the
    coupon it already granted, whatever the template's state now.

    Raises CouponNotFound, CouponInactive, CouponExpired, CouponSoldOut, LimitReached, or
    IssueKeyReused (the key granted another template or member). A refusal writes nothing,
    even when the caller catches it: the grant runs in a savepoint."""
    if not 1 <= len(key) <= MAX_ISSUE_KEY:
        raise ValueError(f"an issue key has 1..{MAX_ISSUE_KEY} characters")
    granted = await repo.coupon_by_issue_key(session, merchant_id, key)
    if granted is None:
        at = now(session)
        template = await get_template(session, merchant_id, template_id)
        _check_grantable(template, at)
        async with session.begin_nested():
            granted = await _grant(session, template, member_id, source, at, issue_key=key)
        if granted is None:  # a concurrent grant with this key committed first
            granted = await repo.coupon_by_issue_key(session, merchant_id, key)
            assert granted is not None  # keys are never deleted
    if granted.template_id != template_id or granted.member_id != member_id:
        raise IssueKeyReused(key=key, coupon_id=granted.id)
    return granted


async def issue(
    session: AsyncSession,
    *,
    merchant_id: str,
    admin_id: str,
    template_id: str,
    member_ids: Sequence[str],
    members: PrincipalValidator,
) -> IssueOut:
    """An operator gives one coupon to each listed member (a repeated id counts once), of
    a claimable or a granted-only template. An id that is not one of the merchant's members
    refuses the whole request (422 `unknown_member`); a member who cannot get one (their
    account deleted, the limit reached, sold out) is skipped with the reason, and the
    others still get theirs."""
    template = await get_template(session, merchant_id, template_id)
    await references.check(
        session, merchant_id, table="members", field="member_ids", ids=member_ids
    )
    at = now(session)
    _check_grantable(template, at)
    results = [
        await _issue_one(session, template, member_id, members, at)
        for member_id in dict.fromkeys(member_ids)
    ]
    issued = sum(r.issued for r in results)
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        Action.COUPON_ISSUE,
        subject_type="coupon_template",
        subject_id=template.id,
        issued=issued,
        skipped=len(results) - issued,
    )
    return IssueOut(
        template_id=template.id, issued=issued, skipped=len(results) - issued, results=results
    )


async def _issue_one(
    session: AsyncSession,
    template: CouponTemplate,
    member_id: str,
    members: PrincipalValidator,
    now: datetime,
) -> IssueResultOut:
    reason: SkipReason
    if not await members.member_active(session, member_id, template.merchant_id):
        reason = "member_not_found"
    else:
        try:
            # A savepoint: a refused member's counter increments are undone, not the batch.
            async with session.begin_nested():
                coupon = await _granted(session, template, member_id, "issue", now)
            return IssueResultOut(
                member_id=member_id, issued=True, coupon_id=coupon.id, reason=None
            )
        except CouponSoldOut:
            reason = "coupon_sold_out"
        except LimitReached:
            reason = "limit_reached"
    return IssueResultOut(member_id=member_id, issued=False, coupon_id=None, reason=reason)


# ---- the member's wallet -------------------------------------------------------------


async def my_coupons(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    page: PageParams,
    *,
    status: CouponStatus | None,
) -> tuple[list[Coupon], str | None]:
    """The member's wallet, newest first; `status` as members see it (`checkout.wallet_status`)."""
    stmt = repo.coupons_of(merchant_id, member_id, status=status, now=now(session))
    return await fetch_page(session, stmt, Coupon.id, page)
