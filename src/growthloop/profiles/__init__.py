"""Profiles: who a merchant's members are, as an operator looks at them.

The members list (`GET /v1/admin/members`) stands on the fourth floor because it joins what
three lower domains know, each through its service: identity (who, which platforms, the
masked phone), loyalty (tier and points) and orders (orders and spend). Tags, RFM,
lifecycle and segments (API.md "Profiles") build on it.
"""
