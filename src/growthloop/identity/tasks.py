"""Identity's sweeps: jobs that open their own units of work."""

from __future__ import annotations

import calendar
from datetime import date

from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.events import emit
from growthloop.core.sql import insert_unless_exists
from growthloop.identity import repository as repo
from growthloop.identity.events import MemberBirthday
from growthloop.identity.models import BirthdayCelebration


def birthday_month_days(day: date) -> list[int]:
    """The birthdays (month * 100 + day) celebrated on `day`: 29 February is celebrated on
    28 February in years without one."""
    month_days = [day.month * 100 + day.day]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        month_days.append(229)
    return month_days


async def celebrate_birthdays(db: Database, clock: Clock, batch_size: int = 500) -> int:
    """Sweep: `MemberBirthday` for every active member whose birthday is today in their
    merchant's timezone, at most once per member and year (a `birthday_celebrations` row
    claims it, so concurrent workers and reruns emit nothing twice). Members are read in
    batches through an index, one transaction per batch."""
    async with db.unit_of_work(write=False) as uow:
        timezones = await repo.merchant_timezones(uow.session)
    emitted = 0
    for tz in timezones:
        today = clock.today(tz)
        month_days = birthday_month_days(today)
        after = ""
        while True:
            async with db.unit_of_work() as uow:
                s = uow.session
                due = await repo.birthdays_due(s, tz, month_days, today.year, after, batch_size)
                batch = 0
                for merchant_id, member_id in due:
                    key = {"merchant_id": merchant_id, "member_id": member_id, "year": today.year}
                    if await insert_unless_exists(s, BirthdayCelebration, key, tuple(key)):
                        await emit(
                            s,
                            MemberBirthday(
                                merchant_id=merchant_id,
                                member_id=member_id,
                                year=today.year,
                                day=today.isoformat(),
                            ),
                        )
                        batch += 1
            emitted += batch
            if len(due) < batch_size:
                break
            after = due[-1][1]
    return emitted
