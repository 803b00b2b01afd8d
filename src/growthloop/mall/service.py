"""Points mall rules: rewards on the shelf, and redeeming them for points. Never commits.
The operator's follow-up of a redemption (fulfil, cancel) is in `fulfilment`.

A redemption is one transaction: the reward's stock, then the member's counter (both
guarded UPDATEs whose rowcount is checked), then the points through the loyalty ledger,
then the coupons for a coupon reward. Any refusal raises and the unit of work rolls it
all back. Every path takes the reward's row before the member's counter and the counter
before the member's points account, so concurrent redemptions and cancellations lock in
the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core import audit, references
from growthloop.core.audit import Action
from growthloop.core.context import now
from growthloop.core.events import emit
from growthloop.core.ids import new_id
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import InvalidCursor, PageParams, fetch_page
from growthloop.core.sql import unused_code
from growthloop.loyalty import service as loyalty
from growthloop.mall import repository as repo
from growthloop.mall.errors import (
    InvalidReward,
    RedemptionEnded,
    RedemptionLimitReached,
    RedemptionNotStarted,
    RewardNotFound,
    RewardSoldOut,
    ShippingNotAccepted,
    ShippingRequired,
    StockBelowRedeemed,
)
from growthloop.mall.events import MallRedeemed, RedemptionEvent
from growthloop.mall.models import Redemption, Reward
from growthloop.mall.schemas import (
    RedeemIn,
    RewardIn,
    RewardPatch,
    ShippingIn,
    UnavailableReason,
    Windows,
)
from growthloop.promotions import service as promotions


def spend_key(redemption_id: str) -> str:
    return f"mall:{redemption_id}:spend"


def return_key(redemption_id: str) -> str:
    return f"mall:{redemption_id}:return"


# ---- rewards -------------------------------------------------------------------------


async def create_reward(
    session: AsyncSession, merchant_id: str, admin_id: str, data: RewardIn
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
    at = now(session)
    reward = Reward(
        **_columns(data.model_dump()),
        merchant_id=merchant_id,
        redeemed=0,
        created_at=at,
        updated_at=at,
    )
    session.add(reward)
    await session.flush()
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        Action.MALL_REWARD_CREATE,
        subject_type="mall_reward",
        subject_id=reward.id,
    )
    return reward


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """A reward body's fields as the reward's columns: an empty description is none, the
    image URL is text."""
    if "description" in fields:
        fields["description"] = fields["description"] or None
    if fields.get("image_url") is not None:
        fields["image_url"] = str(fields["image_url"])
    return fields


def _is_shown(reward: Reward, at: datetime) -> bool:
    return (
        reward.active
        and (reward.shown_from is None or reward.shown_from <= at)
        and (reward.shown_until is None or reward.shown_until > at)
    )


async def get_reward(session: AsyncSession, merchant_id: str, reward_id: str) -> Reward:
    """The merchant's reward: 404 when there is none, 403 when it is another merchant's."""
    return await get_owned(
        session, Reward, reward_id, merchant_id, RewardNotFound(reward_id=reward_id)
    )


async def visible_reward(session: AsyncSession, merchant_id: str, reward_id: str) -> Reward:
    """A reward as a member may see it: one that is not on show is not found."""
    reward = await get_reward(session, merchant_id, reward_id)
    if not _is_shown(reward, now(session)):
        raise RewardNotFound(reward_id=reward_id)
    return reward


async def update_reward(
    session: AsyncSession,
    merchant_id: str,
    admin_id: str,
    reward_id: str,
    patch: RewardPatch,
) -> Reward:
    reward = await get_reward(session, merchant_id, reward_id)
    fields = patch.model_dump(exclude_unset=True)
    windows = Windows.of(reward).model_copy(
        update={k: v for k, v in fields.items() if k in Windows.model_fields}
    )
    problem = windows.problem()
    if problem:
        raise InvalidReward(problem)
    if "stock" in fields and fields["stock"] is None and reward.kind != "coupon":
        raise InvalidReward("product and physical rewards need a stock")
    for name, value in _columns(fields).items():
        if name != "stock":
            setattr(reward, name, value)
    reward.updated_at = now(session)
    await session.flush()
    if "stock" in fields:
        # Guarded: a concurrent redemption may have moved `redeemed` since the read.
        if not await repo.set_stock(session, reward.id, fields["stock"]):
            await session.refresh(reward)
            raise StockBelowRedeemed(stock=fields["stock"], redeemed=reward.redeemed)
        await session.refresh(reward)
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        Action.MALL_REWARD_UPDATE,
        subject_type="mall_reward",
        subject_id=reward.id,
        fields=sorted(fields),
    )
    return reward


async def list_rewards(
    session: AsyncSession, merchant_id: str, page: PageParams, *, shown_only: bool
) -> tuple[list[Reward], str | None]:
    """In shelf order (`sort`, then oldest first); `shown_only`: what members see now."""
    after = None
    if page.after_id is not None:
        # The cursor's row says where to go on: any reward of the merchant's, on show or not.
        after = await repo.get_reward(session, page.after_id)
        if after is None or after.merchant_id != merchant_id:
            raise InvalidCursor()
    stmt = repo.rewards(merchant_id, visible_at=now(session) if shown_only else None)
    return await fetch_page(
        session, stmt, Reward.id, page, oldest_first=True, sort_column=Reward.sort, after=after
    )


def stock_left(reward: Reward) -> int | None:
    return None if reward.stock is None else reward.stock - reward.redeemed


def redeem_start(r: Reward) -> datetime | None:
    return r.redeem_from or r.shown_from


def redeem_end(r: Reward) -> datetime | None:
    return r.redeem_until or r.shown_until


def _unavailable(r: Reward, mine: int, points: int, at: datetime) -> UnavailableReason | None:
    """Why the member cannot redeem one unit at `at`, in the order a redemption checks."""
    start, end = redeem_start(r), redeem_end(r)
    if start is not None and at < start:
        return "not_started"
    if end is not None and at >= end:
        return "ended"
    left = stock_left(r)
    if left is not None and left <= 0:
        return "sold_out"
    if r.per_member_limit is not None and mine >= r.per_member_limit:
        return "limit_reached"
    if points < r.points_cost:
        return "insufficient_points"
    return None


@dataclass(frozen=True)
class Availability:
    """Whether a member can redeem one unit of a reward now: `reason` None, or why not."""

    mine: int  # units the member holds
    reason: UnavailableReason | None


async def availability(
    session: AsyncSession, rewards: Sequence[Reward], member_id: str
) -> dict[str, Availability]:
    """For each reward: the member's units and why they cannot redeem one now (not
    started, ended, sold out, their limit reached, too few points), by reward id."""
    counts = await repo.member_counts(session, member_id, (r.id for r in rewards))
    points = 0
    if rewards:
        points = await loyalty.points_balance(session, rewards[0].merchant_id, member_id)
    at = now(session)
    out = {}
    for r in rewards:
        mine = counts.get(r.id, 0)
        out[r.id] = Availability(mine, _unavailable(r, mine, points, at))
    return out


# ---- redeeming -----------------------------------------------------------------------


def _check_window(reward: Reward, at: datetime) -> None:
    start, end = redeem_start(reward), redeem_end(reward)
    if start is not None and at < start:
        raise RedemptionNotStarted(reward_id=reward.id, redeem_from=start.isoformat())
    if end is not None and at >= end:
        raise RedemptionEnded(reward_id=reward.id, redeem_until=end.isoformat())


def _check_shipping(reward: Reward, shipping: ShippingIn | None) -> None:
    if reward.kind == "physical" and shipping is None:
        raise ShippingRequired(reward_id=reward.id)
    if reward.kind != "physical" and shipping is not None:
        raise ShippingNotAccepted(reward_id=reward.id, kind=reward.kind)


async def redeem(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    reward_id: str,
    data: RedeemIn,
) -> Redemption:
    """Exchange points for `data.quantity` units of a reward, all or nothing."""
    at = now(session)
    reward = await visible_reward(session, merchant_id, reward_id)
    _check_window(reward, at)
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
    code = None
    if reward.kind == "product":  # a voucher shown at the counter
        code = await unused_code(session, Redemption.code, merchant_id)
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
        code=code,
        coupon_ids=coupon_ids,
        ship_name=shipping.name if shipping else None,
        ship_phone=shipping.phone if shipping else None,
        ship_address=shipping.address if shipping else None,
        created_at=at,
    )
    session.add(redemption)
    await session.flush()
    await emit_redemption(session, MallRedeemed, redemption)
    return redemption


# ---- redemptions ---------------------------------------------------------------------


async def list_redemptions(
    session: AsyncSession,
    merchant_id: str,
    page: PageParams,
    *,
    member_id: str | None = None,
    reward_id: str | None = None,
    status: str | None = None,
) -> tuple[list[Redemption], str | None]:
    """Newest first."""
    stmt = repo.redemptions(merchant_id, member_id=member_id, reward_id=reward_id, status=status)
    return await fetch_page(session, stmt, Redemption.id, page)


async def emit_redemption(
    session: AsyncSession, event: type[RedemptionEvent], r: Redemption
) -> None:
    """Tell the subscribers (analytics) what became of a redemption."""
    await emit(
        session,
        event(
            merchant_id=r.merchant_id,
            member_id=r.member_id,
            redemption_id=r.id,
            reward_id=r.reward_id,
            kind=r.kind,
            quantity=r.quantity,
            points=r.points,
            status=r.status,
        ),
    )
