"""Points mall rules: rewards, redeeming them for points, and the operator's follow-up
(fulfil, cancel). Never commits.

A redemption is one transaction: the reward's stock, then the member's counter (both
guarded UPDATEs whose rowcount is checked), then the points through the loyalty ledger,
then the coupons for a coupon reward. Any refusal raises and the unit of work rolls it
all back. Every path takes the reward's row before the member's counter and the counter
before the member's points account, so concurrent redemptions and cancellations lock in
the same order and cannot deadlock.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core import audit, crypto, references
from growthloop.core.auth import ensure_same_merchant
from growthloop.core.events import NamedEvent, emit
from growthloop.core.ids import new_id
from growthloop.core.pagination import InvalidCursor, PageParams, make_page
from growthloop.core.sql import mark_committed
from growthloop.loyalty import service as loyalty
from growthloop.mall import repository as repo
from growthloop.mall.errors import (
    InvalidRedemptionState,
    InvalidReward,
    RedemptionEnded,
    RedemptionLimitReached,
    RedemptionNotFound,
    RedemptionNotStarted,
    RewardNotFound,
    RewardSoldOut,
    ShippingNotAccepted,
    ShippingRequired,
    StockBelowRedeemed,
    TrackingNotAccepted,
    VoucherNotFound,
)
from growthloop.mall.models import Redemption, Reward
from growthloop.mall.schemas import (
    AdminRedemptionOut,
    AdminRewardOut,
    RedeemIn,
    RedemptionOut,
    RedemptionStatus,
    RewardIn,
    RewardKind,
    RewardOut,
    RewardPatch,
    ShippingIn,
    ShippingOut,
    UnavailableReason,
    Windows,
)
from growthloop.promotions import service as promotions

MALL_REDEEMED = "mall.redeemed"
MALL_FULFILLED = "mall.fulfilled"
MALL_CANCELLED = "mall.cancelled"


def spend_key(redemption_id: str) -> str:
    return f"mall:{redemption_id}:spend"


def return_key(redemption_id: str) -> str:
    return f"mall:{redemption_id}:return"


# ---- rewards -------------------------------------------------------------------------


async def create_reward(
    session: AsyncSession, merchant_id: str, admin_id: str, data: RewardIn, now: datetime
) -> Reward:
    # What the reward gives must be this merchant's (422 `unknown_coupon_template` or
    # `unknown_product`), and a coupon members could claim for free is no reward (422
    # `coupon_template_claimable`).
    if data.template_id is not None:
        await promotions.reward_template(
            session, merchant_id, data.template_id, field="template_id"
        )
    if data.product_id is not None:
        await references.check(
            session, merchant_id, table="products", field="product_id", ids=[data.product_id]
        )
    reward = Reward(
        merchant_id=merchant_id,
        kind=data.kind,
        name=data.name,
        description=data.description or None,
        image_url=str(data.image_url) if data.image_url else None,
        template_id=data.template_id,
        product_id=data.product_id,
        points_cost=data.points_cost,
        stock=data.stock,
        redeemed=0,
        per_member_limit=data.per_member_limit,
        shown_from=data.shown_from,
        shown_until=data.shown_until,
        redeem_from=data.redeem_from,
        redeem_until=data.redeem_until,
        active=data.active,
        sort=data.sort,
        created_at=now,
        updated_at=now,
    )
    session.add(reward)
    await session.flush()
    await _audit(session, merchant_id, admin_id, "mall.reward.create", "mall_reward", reward.id)
    return reward


async def access_reward(session: AsyncSession, merchant_id: str, reward_id: str) -> Reward:
    """The reward, if it exists (404) and is this merchant's (403)."""
    reward = await repo.get_reward(session, reward_id)
    if reward is None:
        raise RewardNotFound(reward_id=reward_id)
    ensure_same_merchant(reward.merchant_id, merchant_id)
    return reward


def _windows(reward: Reward) -> Windows:
    return Windows(
        shown_from=reward.shown_from,
        shown_until=reward.shown_until,
        redeem_from=reward.redeem_from,
        redeem_until=reward.redeem_until,
    )


def _is_shown(reward: Reward, now: datetime) -> bool:
    return (
        reward.active
        and (reward.shown_from is None or reward.shown_from <= now)
        and (reward.shown_until is None or reward.shown_until > now)
    )


async def visible_reward(
    session: AsyncSession, merchant_id: str, reward_id: str, now: datetime
) -> Reward:
    """A reward as a member may see it: one that is not on show is not found."""
    reward = await access_reward(session, merchant_id, reward_id)
    if not _is_shown(reward, now):
        raise RewardNotFound(reward_id=reward_id)
    return reward


async def update_reward(
    session: AsyncSession,
    merchant_id: str,
    admin_id: str,
    reward_id: str,
    patch: RewardPatch,
    now: datetime,
) -> Reward:
    reward = await access_reward(session, merchant_id, reward_id)
    fields = patch.model_dump(exclude_unset=True)
    windows = _windows(reward).model_copy(
        update={k: v for k, v in fields.items() if k in Windows.model_fields}
    )
    problem = windows.problem()
    if problem:
        raise InvalidReward(problem)
    if "stock" in fields and fields["stock"] is None and reward.kind != "coupon":
        raise InvalidReward("product and physical rewards need a stock")
    for name, value in fields.items():
        if name == "stock":
            continue
        if name == "image_url" and value is not None:
            value = str(value)
        if name == "description":
            value = value or None
        setattr(reward, name, value)
    reward.updated_at = now
    await session.flush()
    if "stock" in fields:
        # Guarded: a concurrent redemption may have moved `redeemed` since the read.
        if not await repo.set_stock(session, reward.id, fields["stock"]):
            await session.refresh(reward)
            raise StockBelowRedeemed(stock=fields["stock"], redeemed=reward.redeemed)
        await session.refresh(reward)
    await _audit(
        session,
        merchant_id,
        admin_id,
        "mall.reward.update",
        "mall_reward",
        reward.id,
        fields=sorted(fields),
    )
    return reward


async def list_rewards(
    session: AsyncSession, merchant_id: str, page: PageParams, *, visible_at: datetime | None
) -> tuple[list[Reward], str | None]:
    after = None
    if page.after_id is not None:
        # The shelf is ordered by (sort, id): the cursor's row says where to go on.
        after = await repo.get_reward(session, page.after_id)
        if after is None or after.merchant_id != merchant_id:
            raise InvalidCursor()
    rows = await repo.list_rewards(
        session, merchant_id, limit=page.limit, after=after, visible_at=visible_at
    )
    return make_page(rows, page)


def _stock_left(reward: Reward) -> int | None:
    return None if reward.stock is None else reward.stock - reward.redeemed


def admin_reward_out(r: Reward) -> AdminRewardOut:
    return AdminRewardOut(
        id=r.id,
        kind=cast(RewardKind, r.kind),
        name=r.name,
        description=r.description,
        image_url=r.image_url,
        template_id=r.template_id,
        product_id=r.product_id,
        points_cost=r.points_cost,
        stock=r.stock,
        redeemed=r.redeemed,
        stock_left=_stock_left(r),
        per_member_limit=r.per_member_limit,
        shown_from=r.shown_from,
        shown_until=r.shown_until,
        redeem_from=r.redeem_from,
        redeem_until=r.redeem_until,
        active=r.active,
        sort=r.sort,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _redeem_start(r: Reward) -> datetime | None:
    return r.redeem_from or r.shown_from


def _redeem_end(r: Reward) -> datetime | None:
    return r.redeem_until or r.shown_until


def _unavailable(r: Reward, mine: int, points: int, now: datetime) -> UnavailableReason | None:
    """Why the member cannot redeem one unit now, in the order a redemption checks."""
    start, end = _redeem_start(r), _redeem_end(r)
    if start is not None and now < start:
        return "not_started"
    if end is not None and now >= end:
        return "ended"
    left = _stock_left(r)
    if left is not None and left <= 0:
        return "sold_out"
    if r.per_member_limit is not None and mine >= r.per_member_limit:
        return "limit_reached"
    if points < r.points_cost:
        return "insufficient_points"
    return None


async def rewards_out(
    session: AsyncSession, rewards: Sequence[Reward], member_id: str, now: datetime
) -> list[RewardOut]:
    """`redeemable` says whether the member can redeem one unit now: false with the reason
    (not started, ended, sold out, their limit reached, too few points)."""
    counts = await repo.member_counts(session, member_id, (r.id for r in rewards))
    points = 0
    if rewards:
        points = await loyalty.points_balance(session, rewards[0].merchant_id, member_id)
    out = []
    for r in rewards:
        mine = counts.get(r.id, 0)
        reason = _unavailable(r, mine, points, now)
        out.append(
            RewardOut(
                id=r.id,
                kind=cast(RewardKind, r.kind),
                name=r.name,
                description=r.description,
                image_url=r.image_url,
                template_id=r.template_id,
                product_id=r.product_id,
                points_cost=r.points_cost,
                per_member_limit=r.per_member_limit,
                stock_left=_stock_left(r),
                shown_until=r.shown_until,
                redeem_from=_redeem_start(r),
                redeem_until=_redeem_end(r),
                my_redeemed=mine,
                redeemable=reason is None,
                unavailable_reason=reason,
            )
        )
    return out


# ---- redeeming -----------------------------------------------------------------------


def _check_window(reward: Reward, now: datetime) -> None:
    start, end = _redeem_start(reward), _redeem_end(reward)
    if start is not None and now < start:
        raise RedemptionNotStarted(reward_id=reward.id, redeem_from=start.isoformat())
    if end is not None and now >= end:
        raise RedemptionEnded(reward_id=reward.id, redeem_until=end.isoformat())


def _check_shipping(reward: Reward, shipping: ShippingIn | None) -> None:
    if reward.kind == "physical" and shipping is None:
        raise ShippingRequired(reward_id=reward.id)
    if reward.kind != "physical" and shipping is not None:
        raise ShippingNotAccepted(reward_id=reward.id, kind=reward.kind)


async def _new_code(session: AsyncSession, merchant_id: str) -> str:
    """A 12-digit voucher code not used by this merchant yet."""
    while True:
        code = f"{secrets.randbelow(10**12):012d}"
        if not await repo.code_taken(session, merchant_id, code):
            return code


async def redeem(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    reward_id: str,
    data: RedeemIn,
    now: datetime,
) -> Redemption:
    """Exchange points for `data.quantity` units of a reward, all or nothing."""
    reward = await visible_reward(session, merchant_id, reward_id, now)
    _check_window(reward, now)
    _check_shipping(reward, data.shipping)
    quantity = data.quantity
    if not await repo.take_stock(session, reward.id, quantity):
        raise RewardSoldOut(reward_id=reward.id)
    if not await repo.take_member_count(session, reward, member_id, quantity):
        raise RedemptionLimitReached(reward_id=reward.id, per_member_limit=reward.per_member_limit)
    redemption_id = new_id()
    points = reward.points_cost * quantity
    await loyalty.spend_points(
        session,
        merchant_id,
        member_id,
        points,
        reason="mall_redeem",
        key=spend_key(redemption_id),
        ref=redemption_id,
    )
    coupon_ids: list[str] = []
    if reward.kind == "coupon":
        assert reward.template_id is not None  # RewardIn requires it
        for i in range(quantity):
            coupon = await promotions.grant_coupon(
                session,
                merchant_id,
                reward.template_id,
                member_id,
                source="mall",
                key=f"mall:{redemption_id}:coupon:{i}",
            )
            coupon_ids.append(coupon.id)
    shipping = data.shipping
    redemption = Redemption(
        id=redemption_id,
        merchant_id=merchant_id,
        reward_id=reward.id,
        member_id=member_id,
        kind=reward.kind,
        reward_name=reward.name,
        quantity=quantity,
        points=points,
        status="issued" if reward.kind == "coupon" else "pending",
        code=await _new_code(session, merchant_id) if reward.kind == "product" else None,
        coupon_ids=coupon_ids,
        ship_name=shipping.name if shipping else None,
        ship_phone=shipping.phone if shipping else None,
        ship_address=shipping.address if shipping else None,
        created_at=now,
    )
    session.add(redemption)
    await session.flush()
    await _event(session, MALL_REDEEMED, redemption)
    return redemption


# ---- the operator's follow-up ----------------------------------------------------------


async def access_redemption(
    session: AsyncSession, merchant_id: str, redemption_id: str
) -> Redemption:
    redemption = await repo.get_redemption(session, redemption_id)
    if redemption is None:
        raise RedemptionNotFound(redemption_id=redemption_id)
    ensure_same_merchant(redemption.merchant_id, merchant_id)
    return redemption


async def _fulfil(
    session: AsyncSession,
    redemption: Redemption,
    admin_id: str,
    tracking_no: str | None,
    now: datetime,
) -> Redemption:
    if tracking_no is not None and redemption.kind != "physical":
        raise TrackingNotAccepted(kind=redemption.kind)
    values = {"status": "fulfilled", "fulfilled_at": now, "tracking_no": tracking_no}
    if not await repo.move(session, redemption.id, "pending", **values):
        await session.refresh(redemption)
        raise InvalidRedemptionState(
            "Only a pending redemption can be fulfilled.", status=redemption.status
        )
    mark_committed(redemption, **values)
    await _audit(
        session,
        redemption.merchant_id,
        admin_id,
        "mall.redemption.fulfil",
        "mall_redemption",
        redemption.id,
        member_id=redemption.member_id,
        tracked=tracking_no is not None,
    )
    await _event(session, MALL_FULFILLED, redemption)
    return redemption


async def fulfil(
    session: AsyncSession,
    *,
    merchant_id: str,
    admin_id: str,
    redemption_id: str,
    tracking_no: str | None,
    now: datetime,
) -> Redemption:
    """pending -> fulfilled: the voucher was used at the counter, or the gift shipped."""
    redemption = await access_redemption(session, merchant_id, redemption_id)
    return await _fulfil(session, redemption, admin_id, tracking_no, now)


async def verify(
    session: AsyncSession, *, merchant_id: str, admin_id: str, code: str, now: datetime
) -> Redemption:
    """核销 at the counter: the member shows the voucher code; it works once."""
    redemption = await repo.redemption_by_code(session, merchant_id, code)
    if redemption is None:
        raise VoucherNotFound()
    return await _fulfil(session, redemption, admin_id, None, now)


async def cancel(
    session: AsyncSession,
    *,
    merchant_id: str,
    admin_id: str,
    redemption_id: str,
    reason: str | None,
    now: datetime,
) -> Redemption:
    """pending -> cancelled: the stock, the member's count and the points (to the same
    batches, with their original expiry) all come back. Issued coupons are not taken back:
    a coupon redemption is final."""
    redemption = await access_redemption(session, merchant_id, redemption_id)
    values = {"status": "cancelled", "cancelled_at": now}
    if not await repo.move(session, redemption.id, "pending", **values):
        await session.refresh(redemption)
        raise InvalidRedemptionState(
            "Only a pending redemption can be cancelled.", status=redemption.status
        )
    mark_committed(redemption, **values)
    quantity, member_id = redemption.quantity, redemption.member_id
    # Both held these units since the redemption; a failed guard would be a broken invariant.
    if not await repo.return_stock(session, redemption.reward_id, quantity):
        raise RuntimeError(f"reward {redemption.reward_id} holds fewer units than redeemed")
    if not await repo.return_member_count(session, redemption.reward_id, member_id, quantity):
        raise RuntimeError(f"member count of {redemption.reward_id} below a redemption")
    await loyalty.give_back_points(
        session,
        merchant_id,
        member_id,
        spend_key=spend_key(redemption.id),
        key=return_key(redemption.id),
        reason="mall_cancel",
    )
    await _audit(
        session,
        merchant_id,
        admin_id,
        "mall.redemption.cancel",
        "mall_redemption",
        redemption.id,
        member_id=member_id,
        points=redemption.points,
        quantity=quantity,
        reason=reason,
    )
    await _event(session, MALL_CANCELLED, redemption)
    return redemption


async def list_redemptions(
    session: AsyncSession,
    merchant_id: str,
    page: PageParams,
    *,
    member_id: str | None = None,
    reward_id: str | None = None,
    status: str | None = None,
) -> tuple[list[Redemption], str | None]:
    rows = await repo.list_redemptions(
        session,
        merchant_id,
        member_id=member_id,
        reward_id=reward_id,
        status=status,
        limit=page.limit,
        before_id=page.after_id,
    )
    return make_page(rows, page)


def redemption_out(r: Redemption) -> RedemptionOut:
    shipping = None
    if r.ship_name is not None and r.ship_phone is not None and r.ship_address is not None:
        shipping = ShippingOut(name=r.ship_name, phone=r.ship_phone, address=r.ship_address)
    return RedemptionOut(
        id=r.id,
        reward_id=r.reward_id,
        kind=cast(RewardKind, r.kind),
        reward_name=r.reward_name,
        quantity=r.quantity,
        points=r.points,
        status=cast(RedemptionStatus, r.status),
        code=r.code,
        coupon_ids=list(r.coupon_ids),
        shipping=shipping,
        tracking_no=r.tracking_no,
        created_at=r.created_at,
        fulfilled_at=r.fulfilled_at,
        cancelled_at=r.cancelled_at,
    )


def admin_redemption_out(r: Redemption, *, reveal: bool = False) -> AdminRedemptionOut:
    """Staff see the shipping contact masked (张*, 138****1234, first 6 characters of the
    address) unless `reveal`, which the caller authorizes and audits (`record_reveal`)."""
    out = redemption_out(r)
    if out.shipping is not None and not reveal:
        out.shipping = ShippingOut(
            name=crypto.mask_name(out.shipping.name),
            phone=crypto.mask_phone(out.shipping.phone),
            address=crypto.mask_address(out.shipping.address),
        )
    return AdminRedemptionOut(**out.model_dump(), member_id=r.member_id)


SHIPPING_FIELDS = ("ship_name", "ship_phone", "ship_address")


async def record_reveal(
    session: AsyncSession, merchant_id: str, admin_id: str, role: str, rows: Sequence[Redemption]
) -> None:
    """`pii.reveal` for each redemption whose shipping contact an admin is shown unmasked:
    who, whose, which fields; never the values."""
    for r in rows:
        if r.ship_name is None and r.ship_phone is None and r.ship_address is None:
            continue
        await _audit(
            session,
            merchant_id,
            admin_id,
            "pii.reveal",
            "mall_redemption",
            r.id,
            member_id=r.member_id,
            fields=list(SHIPPING_FIELDS),
            role=role,
            purpose="ship the redeemed gift",
        )


# ---- helpers -------------------------------------------------------------------------


async def _event(session: AsyncSession, name: str, r: Redemption) -> None:
    payload = {
        "redemption_id": r.id,
        "reward_id": r.reward_id,
        "kind": r.kind,
        "quantity": r.quantity,
        "points": r.points,
        "status": r.status,
    }
    await emit(session, NamedEvent(name, r.merchant_id, payload, r.member_id))


async def _audit(
    session: AsyncSession,
    merchant_id: str,
    admin_id: str,
    action: str,
    subject_type: str,
    subject_id: str,
    member_id: str | None = None,
    **details: object,
) -> None:
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        member_id=member_id,
        **details,
    )
