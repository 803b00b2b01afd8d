"""Coupon templates and issued coupons (filled in by the promotions work)."""

from __future__ import annotations
