"""Identity's rows as the API shows them."""

from __future__ import annotations

from growthloop.core.auth import ROLE_PERMISSIONS, Role
from growthloop.core.presenting import from_row
from growthloop.identity.models import AdminUser, Member, Merchant
from growthloop.identity.schemas import (
    AdminMeOut,
    AdminUserOut,
    BusinessHours,
    MemberOut,
    MerchantOut,
    MerchantSettingsChangeOut,
    MerchantSettingsOut,
    SettingEffect,
)
from growthloop.identity.service import SettingsChange


def admin_out(admin: AdminUser) -> AdminUserOut:
    return AdminUserOut.model_validate(admin, from_attributes=True)


def admin_me_out(admin: AdminUser, merchant: Merchant, role: Role) -> AdminMeOut:
    """The signed-in admin, their merchant (the ingest key only for owners) and what their
    role may do."""
    return AdminMeOut(
        admin=admin_out(admin),
        merchant=from_row(
            MerchantOut, merchant, ingest_key=merchant.ingest_key if role is Role.OWNER else None
        ),
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[role]),
    )


def member_out(member: Member, platforms: list[str]) -> MemberOut:
    return from_row(MemberOut, member, platforms=platforms)


def settings_out(merchant: Merchant) -> MerchantSettingsOut:
    return from_row(
        MerchantSettingsOut,
        merchant,
        business_hours=[BusinessHours.model_validate(h) for h in merchant.business_hours or []],
    )


def settings_change_out(change: SettingsChange) -> MerchantSettingsChangeOut:
    return MerchantSettingsChangeOut(
        **settings_out(change.merchant).model_dump(),
        changed=change.changed,
        effects=[SettingEffect(area=a, description=d) for a, d in change.effects],
    )
