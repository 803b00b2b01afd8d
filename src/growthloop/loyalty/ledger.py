"""Points ledger operations. Each one locks the member's row, checks its idempotency key,
writes one append-only entry and moves batches so that, after every operation:

- `account.points` == sum of the member's ledger deltas;
- sum of unexpired batches' `remaining` == max(points, 0) (a negative balance is debt
  left by a refund of points already spent; it blocks spending until earned back);
- no batch is below zero or above its amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.ids import new_id
from growthloop.loyalty import repository as repo
from growthloop.loyalty.errors import InsufficientPoints, PointsLocked
from growthloop.loyalty.models import LedgerEntry, MemberLoyalty, PointsBatch


class Posting(TypedDict):
    """What an operation's entry says about it, passed down unchanged from the caller
    through the service and the programme: why (`reason`), the idempotency key that makes it
    happen once (`key`), and what it is about (`ref`, e.g. the order id)."""

    reason: str
    key: str
    ref: str | None


class GiveBack(TypedDict):
    """A return of what a spend took, passed down unchanged from the caller through the
    service: the spend's key (`spend_key`), the return's own idempotency key (`key`) and why
    (`reason`)."""

    spend_key: str
    key: str
    reason: str


def _entry(
    account: MemberLoyalty,
    *,
    delta: int,
    now: datetime,
    batch_id: str | None = None,
    allocations: dict[str, int] | None = None,
    expires_at: datetime | None = None,
    **posting: Unpack[Posting],
) -> LedgerEntry:
    account.points += delta
    return LedgerEntry(
        id=new_id(),
        merchant_id=account.merchant_id,
        member_id=account.member_id,
        delta=delta,
        balance_after=account.points,
        reason=posting["reason"],
        ref=posting["ref"],
        idempotency_key=posting["key"],
        batch_id=batch_id,
        allocations=allocations or {},
        expires_at=expires_at,
        created_at=now,
    )


async def _locked(
    session: AsyncSession, merchant_id: str, member_id: str, key: str
) -> tuple[MemberLoyalty, LedgerEntry | None]:
    """Every operation's start: the member's account, locked, and the entry already written
    under the operation's idempotency key (None on its first run)."""
    account = await repo.lock_account(session, merchant_id, member_id)
    return account, await repo.entry_by_key(session, merchant_id, key)


async def _write(session: AsyncSession, entry: LedgerEntry) -> LedgerEntry:
    """Every operation's end: its one entry written, with the balances and batches moved."""
    session.add(entry)
    await session.flush()
    return entry


async def _consume(
    session: AsyncSession,
    account: MemberLoyalty,
    points: int,
    now: datetime,
    skip: str | None = None,
) -> dict[str, int]:
    """Take up to `points` from the batches that expire first; returns what came from where."""
    taken: dict[str, int] = {}
    for batch in await repo.spendable_batches(session, account.merchant_id, account.member_id, now):
        if points <= 0:
            break
        if batch.id == skip:
            continue
        n = min(batch.remaining, points)
        batch.remaining -= n
        taken[batch.id] = n
        points -= n
    return taken


async def expire_member(session: AsyncSession, account: MemberLoyalty, now: datetime) -> int:
    """Write expiry entries for this member's due batches (so the balance is spendable)."""
    expired = 0
    for batch in await repo.due_batches_of(session, account.merchant_id, account.member_id, now):
        expired += await expire_batch(session, account, batch, now)
    return expired


async def expire_batch(
    session: AsyncSession, account: MemberLoyalty, batch: PointsBatch, now: datetime
) -> int:
    n = batch.remaining
    if n <= 0:
        return 0
    batch.remaining = 0
    session.add(
        _entry(
            account,
            delta=-n,
            reason="expire",
            key=f"expire:{batch.id}:{new_id()}",
            ref=batch.id,
            now=now,
            allocations={batch.id: n},
        )
    )
    return n


async def expire_due_in_bulk(
    session: AsyncSession,
    accounts: dict[tuple[str, str], MemberLoyalty],
    due: Sequence[Any],
    now: datetime,
) -> int:
    """The sweep's form of `expire_batch` for many members at once: the same entries, written
    with one multi-row INSERT and one UPDATE per chunk instead of an ORM object per batch.
    `accounts` are locked; `due` are their due batch rows (id, merchant_id, member_id,
    remaining), locked, in expiry order."""
    entries: list[dict[str, Any]] = []
    for row in due:
        if row.remaining <= 0:
            continue
        account = accounts[(row.merchant_id, row.member_id)]
        account.points -= row.remaining
        entries.append(
            {
                "id": new_id(),
                "merchant_id": row.merchant_id,
                "member_id": row.member_id,
                "delta": -row.remaining,
                "balance_after": account.points,
                "reason": "expire",
                "ref": row.id,
                "idempotency_key": f"expire:{row.id}:{new_id()}",
                "batch_id": None,
                "allocations": {row.id: row.remaining},
                "expires_at": None,
                "created_at": now,
            }
        )
    ids = [e["ref"] for e in entries]
    for start in range(0, len(ids), _CHUNK):
        await session.execute(
            update(PointsBatch)
            .where(PointsBatch.id.in_(ids[start : start + _CHUNK]))
            .values(remaining=0)
            .execution_options(synchronize_session=False)
        )
    if entries:
        await session.execute(insert(LedgerEntry), entries)
    await session.flush()  # the balances
    return len(entries)


_CHUNK = 1000  # ids per IN list: well under every backend's bound-parameter limit


async def earn(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    points: int,
    *,
    now: datetime,
    expires_at: datetime | None,
    **posting: Unpack[Posting],
) -> LedgerEntry | None:
    """Add a batch of `points` (0 allowed: records that the source was counted).
    None when this key was already written."""
    if points < 0:
        raise ValueError("earned points are never negative")
    account, written = await _locked(session, merchant_id, member_id, posting["key"])
    if written is not None:
        return None
    await expire_member(session, account, now)
    batch_id = None
    if points:
        # Debt left by an earlier refund is paid off first.
        remaining = max(0, min(points, account.points + points))
        batch = PointsBatch(
            id=new_id(),
            merchant_id=merchant_id,
            member_id=member_id,
            amount=points,
            remaining=remaining,
            expires_at=expires_at,
            created_at=now,
        )
        session.add(batch)
        batch_id = batch.id
    entry = _entry(
        account, delta=points, now=now, batch_id=batch_id, expires_at=expires_at, **posting
    )
    return await _write(session, entry)


async def spend(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    points: int,
    *,
    now: datetime,
    **posting: Unpack[Posting],
) -> LedgerEntry:
    """Spend from the batches that expire first. Idempotent: the same key returns the
    entry already written."""
    if points <= 0:
        raise ValueError("spent points are positive")
    account, written = await _locked(session, merchant_id, member_id, posting["key"])
    if written is not None:
        return written
    await expire_member(session, account, now)
    if account.points < 0:
        raise PointsLocked(balance=account.points)
    if account.points < points:
        raise InsufficientPoints(requested=points, balance=account.points)
    taken = await _consume(session, account, points, now)
    entry = _entry(account, delta=-points, now=now, allocations=taken, **posting)
    return await _write(session, entry)


async def give_back(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    *,
    spend_key: str,
    key: str,
    reason: str,
    now: datetime,
) -> LedgerEntry | None:
    """Return what a spend took, to the same batches with their original expiry
    (a batch already past its expiry is expired again by the sweep)."""
    account, written = await _locked(session, merchant_id, member_id, key)
    if written is not None:
        return None
    spent = await repo.entry_by_key(session, merchant_id, spend_key)
    if spent is None or spent.delta >= 0:
        return None
    await expire_member(session, account, now)
    amount = -spent.delta
    # Debt is paid off first; only the rest goes back into batches.
    to_batches = max(0, min(amount, account.points + amount))
    batches = await repo.batches_by_id(session, list(spent.allocations))
    restored: dict[str, int] = {}
    for batch_id, n in spent.allocations.items():
        batch = batches.get(batch_id)
        if batch is None or to_batches <= 0:
            continue
        give = min(n, to_batches, batch.amount - batch.remaining)
        batch.remaining += give
        restored[batch_id] = give
        to_batches -= give
    entry = _entry(
        account, delta=amount, reason=reason, key=key, ref=spent.ref, now=now, allocations=restored
    )
    await _write(session, entry)
    await expire_member(session, account, now)  # points returned to a batch already past expiry
    return entry


async def take_back(
    session: AsyncSession,
    merchant_id: str,
    member_id: str,
    *,
    earn_key: str,
    key: str,
    reason: str,
    now: datetime,
) -> LedgerEntry | None:
    """Reverse exactly what an earning added. Points of it already spent are taken from
    other batches (expiring first); what cannot be covered leaves a negative balance."""
    account, written = await _locked(session, merchant_id, member_id, key)
    if written is not None:
        return None
    earned = await repo.entry_by_key(session, merchant_id, earn_key)
    if earned is None:
        return None
    await expire_member(session, account, now)
    amount = earned.delta
    taken: dict[str, int] = {}
    batches = await repo.batches_by_id(session, [earned.batch_id] if earned.batch_id else [])
    own = batches.get(earned.batch_id or "")
    if own is not None and own.remaining:
        n = min(own.remaining, amount)
        own.remaining -= n
        taken[own.id] = n
    shortfall = amount - sum(taken.values())
    if shortfall and account.points > 0:
        for batch_id, n in (
            await _consume(session, account, shortfall, now, skip=earned.batch_id)
        ).items():
            taken[batch_id] = taken.get(batch_id, 0) + n
    entry = _entry(
        account, delta=-amount, reason=reason, key=key, ref=earned.ref, now=now, allocations=taken
    )
    return await _write(session, entry)
