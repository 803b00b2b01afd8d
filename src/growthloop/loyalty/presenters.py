"""Loyalty rows and settings as the API shows them."""

from __future__ import annotations

from growthloop.loyalty.models import LedgerEntry
from growthloop.loyalty.schemas import LedgerEntryOut, ProgramIn, ProgramOut


def program_out(program: ProgramIn) -> ProgramOut:
    return ProgramOut.model_validate(program.model_dump())


def ledger_entry_out(entry: LedgerEntry) -> LedgerEntryOut:
    return LedgerEntryOut.model_validate(entry, from_attributes=True)
