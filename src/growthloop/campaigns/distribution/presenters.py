"""Distribution's rows as the API shows them."""

from __future__ import annotations

from growthloop.campaigns.distribution.models import Commission, DistributionSettings, Withdrawal
from growthloop.campaigns.distribution.schemas import (
    CommissionOut,
    DistributionIn,
    DistributionOut,
    WithdrawalOut,
)


def settings_out(s: DistributionSettings | None) -> DistributionOut:
    """The shop's settings; a shop that never set them up runs no programme (the
    defaults, off)."""
    if s is None:
        d = DistributionIn(level1_percent=0, settle_days=7)
        return DistributionOut(**d.model_dump(exclude={"enabled"}), enabled=False, updated_at=None)
    return DistributionOut.model_validate(s, from_attributes=True)


def commission_out(c: Commission) -> CommissionOut:
    return CommissionOut.model_validate(c, from_attributes=True)


def withdrawal_out(w: Withdrawal) -> WithdrawalOut:
    return WithdrawalOut.model_validate(w, from_attributes=True)
