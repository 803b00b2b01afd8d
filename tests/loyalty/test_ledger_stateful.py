"""Random sequences of earn, spend, complete, refund, cancel, expire and clock moves; after
every step: balance = sum of ledger, batches never below zero, remaining batches hold
exactly the (non-negative) balance, no spending on a negative balance, and spending takes
the batches that expire first."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select

from growthloop.all_models import metadata
from growthloop.core.clock import FrozenClock
from growthloop.core.context import Context
from growthloop.core.db import Database
from growthloop.core.events import EventBus
from growthloop.loyalty import ledger, tasks
from growthloop.loyalty.errors import InsufficientPoints, PointsLocked
from growthloop.loyalty.models import LedgerEntry, MemberLoyalty, PointsBatch

M, U = "merchant", "member"
FAR = datetime(9999, 1, 1, tzinfo=UTC)


class _Directory:
    async def timezone(self, session: Any, merchant_id: str) -> str:
        return "Asia/Shanghai"


_schema_file: Path | None = None


def _empty_database() -> Path:
    """A database file holding the schema and no rows, made once per process; each example
    starts from a copy of it (create_all for every example was a fifth of this test's time)."""
    global _schema_file
    if _schema_file is None:
        path = Path(tempfile.mkdtemp()) / "schema.db"

        async def create() -> None:
            db = Database(f"sqlite+aiosqlite:///{path}")
            async with db.engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            await db.dispose()  # the last connection checkpoints the WAL into the file

        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(create())
        finally:
            loop.close()
        _schema_file = path
    return _schema_file


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.mkdtemp()
        path = Path(self.dir) / "l.db"
        shutil.copyfile(_empty_database(), path)
        self.db = Database(f"sqlite+aiosqlite:///{path}")
        self.clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
        # Only what the ledger reads: the clock, a bus, the merchant's timezone.
        self.db.context = Context(
            clock=self.clock,
            bus=EventBus(),
            merchants=_Directory(),  # type: ignore[arg-type]
            members=None,  # type: ignore[arg-type]
            stock=None,  # type: ignore[arg-type]
            kick=lambda: None,
        )
        self.n = 0
        self.orders: dict[
            str, str
        ] = {}  # order id -> state: held | completed | refunded | cancelled
        self.last: tuple[str, dict[str, Any]] | None = None

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.db.dispose())
        self.loop.close()

    async def _in_uow(self, fn: Any, **kwargs: Any) -> Any:
        async with self.db.unit_of_work() as uow:
            return await fn(uow.session, **kwargs)

    def _new_order(self) -> str:
        self.n += 1
        return f"o{self.n}"

    # ---- rules ---------------------------------------------------------------------

    @rule(points=st.integers(0, 300), days=st.one_of(st.none(), st.integers(1, 10)))
    def earn(self, points: int, days: int | None) -> None:
        self.n += 1
        kwargs = {
            "merchant_id": M,
            "member_id": U,
            "points": points,
            "reason": "gift",
            "key": f"gift:{self.n}",
            "ref": None,
            "now": self.clock.now(),
            "expires_at": self.clock.now() + timedelta(days=days) if days else None,
        }
        self.run(self._in_uow(ledger.earn, **kwargs))
        self.last = ("earn", kwargs)

    @rule(points=st.integers(1, 400))
    def spend_on_order(self, points: int) -> None:
        order = self._new_order()

        async def go(session: Any) -> Any:
            before = await session.get(MemberLoyalty, (M, U))
            balance = before.points if before else 0
            try:
                entry = await ledger.spend(
                    session,
                    M,
                    U,
                    points,
                    reason="order_spend",
                    key=f"order:{order}:spend",
                    ref=order,
                    now=self.clock.now(),
                )
            except PointsLocked:
                assert balance < 0 or await self._due_makes_negative(session)
                return None
            except InsufficientPoints:
                return None
            assert balance >= 0
            await self._check_expiry_order(session, entry.allocations)
            return entry

        if self.run(self._in_uow(go)) is not None:
            self.orders[order] = "held"

    async def _due_makes_negative(self, session: Any) -> bool:
        account = await session.get(MemberLoyalty, (M, U))
        return account is not None and account.points < 0

    async def _check_expiry_order(self, session: Any, allocations: dict[str, int]) -> None:
        """No batch expiring before one that was used may keep points."""
        batches = (await session.execute(select(PointsBatch))).scalars().all()
        used = [b for b in batches if b.id in allocations]
        if not used:
            return
        latest = max(b.expires_at or FAR for b in used)
        for b in batches:
            if b.id not in allocations and b.remaining > 0 and (b.expires_at or FAR) < latest:
                assert (b.expires_at or FAR) <= self.clock.now(), "spent a later batch first"

    @rule()
    def order_without_points(self) -> None:
        self.orders[self._new_order()] = "held"

    @precondition(lambda self: any(s == "held" for s in self.orders.values()))
    @rule(data=st.data(), points=st.integers(0, 500))
    def complete(self, data: st.DataObject, points: int) -> None:
        order = data.draw(st.sampled_from(sorted(o for o, s in self.orders.items() if s == "held")))
        kwargs = {
            "merchant_id": M,
            "member_id": U,
            "points": points,
            "reason": "order_earn",
            "key": f"order:{order}:earn",
            "ref": order,
            "now": self.clock.now(),
            "expires_at": self.clock.now() + timedelta(days=3),
        }
        self.run(self._in_uow(ledger.earn, **kwargs))
        self.orders[order] = "completed"
        self.last = ("earn", kwargs)

    @precondition(lambda self: any(s in ("held", "completed") for s in self.orders.values()))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        live = sorted(o for o, s in self.orders.items() if s in ("held", "completed"))
        order = data.draw(st.sampled_from(live))
        now = self.clock.now()

        async def go(session: Any) -> None:
            await ledger.take_back(
                session,
                M,
                U,
                earn_key=f"order:{order}:earn",
                key=f"order:{order}:earn-reversal",
                reason="refund_reversal",
                now=now,
            )
            await ledger.give_back(
                session,
                M,
                U,
                spend_key=f"order:{order}:spend",
                key=f"order:{order}:spend-return",
                reason="order_refunded",
                now=now,
            )

        self.run(self._in_uow(go))
        self.orders[order] = "refunded"

    @precondition(lambda self: any(s == "held" for s in self.orders.values()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order = data.draw(st.sampled_from(sorted(o for o, s in self.orders.items() if s == "held")))
        kwargs = {
            "merchant_id": M,
            "member_id": U,
            "spend_key": f"order:{order}:spend",
            "key": f"order:{order}:spend-return",
            "reason": "order_cancelled",
            "now": self.clock.now(),
        }
        self.run(self._in_uow(ledger.give_back, **kwargs))
        self.orders[order] = "cancelled"
        self.last = ("give_back", kwargs)

    @precondition(lambda self: self.last is not None)
    @rule()
    def retry_last_write(self) -> None:
        """A retried write (same idempotency key) changes nothing."""
        assert self.last is not None
        name, kwargs = self.last
        before = self._snapshot()
        self.run(self._in_uow(getattr(ledger, name), **kwargs))
        assert self._snapshot() == before

    @rule(days=st.integers(0, 4), hours=st.integers(0, 23))
    def move_clock(self, days: int, hours: int) -> None:
        self.clock.advance(days=days, hours=hours)

    @rule()
    def sweep(self) -> None:
        self.run(tasks.expire_due_points(self.db, self.clock, members_per_round=7))

        async def due() -> int:
            async with self.db.unit_of_work(write=False) as uow:
                q = (
                    select(func.count())
                    .select_from(PointsBatch)
                    .where(PointsBatch.remaining > 0, PointsBatch.expires_at <= self.clock.now())
                )
                return int((await uow.session.execute(q)).scalar_one())

        assert self.run(due()) == 0

    # ---- invariants ---------------------------------------------------------------

    def _snapshot(self) -> tuple[Any, ...]:
        async def read() -> tuple[Any, ...]:
            async with self.db.unit_of_work(write=False) as uow:
                s = uow.session
                account = await s.get(MemberLoyalty, (M, U))
                entries = (
                    await s.execute(
                        select(func.count(), func.coalesce(func.sum(LedgerEntry.delta), 0))
                    )
                ).one()
                batches = (
                    await s.execute(
                        select(PointsBatch.id, PointsBatch.remaining, PointsBatch.amount).order_by(
                            PointsBatch.id
                        )
                    )
                ).all()
                return (
                    account.points if account else 0,
                    tuple(entries),
                    tuple(map(tuple, batches)),
                )

        result: tuple[Any, ...] = self.run(read())
        return result

    @invariant()
    def ledger_is_the_truth(self) -> None:
        points, (_count, total), batches = self._snapshot()
        assert points == total, f"balance {points} != sum of ledger {total}"
        for _id, remaining, amount in batches:
            assert 0 <= remaining <= amount
        assert sum(b[1] for b in batches) == max(points, 0)


TestLedger = LedgerMachine.TestCase
TestLedger.settings = settings(
    max_examples=80,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def test_refund_of_spent_points_leaves_debt_that_blocks_spending() -> None:
    """Earn 100 on order A, spend them on order B, refund A: the balance is -100 and
    spending is blocked; cancelling B gives 100 back, which pays the debt, not a batch."""
    machine = LedgerMachine()
    try:
        machine.orders = {"A": "held"}

        async def scenario() -> None:
            now = machine.clock.now()
            async with machine.db.unit_of_work() as uow:
                s = uow.session
                await ledger.earn(
                    s,
                    M,
                    U,
                    100,
                    reason="order_earn",
                    key="order:A:earn",
                    ref="A",
                    now=now,
                    expires_at=None,
                )
                await ledger.spend(
                    s, M, U, 100, reason="order_spend", key="order:B:spend", ref="B", now=now
                )
                await ledger.take_back(
                    s,
                    M,
                    U,
                    earn_key="order:A:earn",
                    key="order:A:earn-reversal",
                    reason="refund_reversal",
                    now=now,
                )
            async with machine.db.unit_of_work() as uow:
                assert (await uow.session.get(MemberLoyalty, (M, U))).points == -100
            try:
                async with machine.db.unit_of_work() as uow:
                    await ledger.spend(uow.session, M, U, 1, reason="x", key="k", ref=None, now=now)
                raise AssertionError("spent on a negative balance")
            except PointsLocked:
                pass
            async with machine.db.unit_of_work() as uow:
                await ledger.give_back(
                    uow.session,
                    M,
                    U,
                    spend_key="order:B:spend",
                    key="order:B:spend-return",
                    reason="order_cancelled",
                    now=now,
                )

        machine.run(scenario())
        points, _, batches = machine._snapshot()
        assert points == 0
        assert sum(b[1] for b in batches) == 0
        machine.ledger_is_the_truth()
    finally:
        machine.teardown()
