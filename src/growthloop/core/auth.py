"""Tokens, principals, roles and the typed auth dependencies.

Tokens are HMAC-signed (JWT, HS256) and short-lived; each request also checks the
account still exists and is active (a validator the identity domain registers at
start-up), so a deleted member's or a removed admin's token stops working at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, TypeVar

import jwt
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.errors import Forbidden, Invalid, Unauthenticated

TokenKind = Literal["member", "admin"]


class Role(StrEnum):
    OWNER = "owner"
    OPERATOR = "operator"
    ANALYST = "analyst"
    SUPPORT = "support"


class Permission(StrEnum):
    CATALOG_READ = "catalog.read"
    CATALOG_WRITE = "catalog.write"
    ORDERS_READ = "orders.read"
    ORDERS_FULFIL = "orders.fulfil"  # complete, redeem pickup codes
    ORDERS_REFUND = "orders.refund"
    MEMBERS_READ = "members.read"
    MEMBERS_EXPORT = "members.export"  # the members list as CSV: a bulk copy of personal data
    MARKETING_READ = "marketing.read"  # coupons, campaigns, loyalty programme
    MARKETING_WRITE = "marketing.write"
    MALL_READ = "mall.read"  # the points mall's rewards and redemptions
    ALLIANCE_READ = "alliance.read"  # partnerships, exchanges, settlements
    ANALYTICS_READ = "analytics.read"
    PRIVACY_HANDLE = "privacy.handle"
    SETTINGS_WRITE = "settings.write"  # merchant settings, team, keys


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.OPERATOR: frozenset(
        {
            Permission.CATALOG_READ,
            Permission.MARKETING_READ,
            Permission.MALL_READ,
            Permission.ALLIANCE_READ,
            Permission.CATALOG_WRITE,
            Permission.ORDERS_READ,
            Permission.ORDERS_FULFIL,
            Permission.ORDERS_REFUND,
            Permission.MEMBERS_READ,
            Permission.MEMBERS_EXPORT,
            Permission.MARKETING_WRITE,
            Permission.ANALYTICS_READ,
        }
    ),
    Role.ANALYST: frozenset(
        {
            Permission.CATALOG_READ,
            Permission.MARKETING_READ,
            Permission.MALL_READ,
            Permission.ALLIANCE_READ,
            Permission.ORDERS_READ,
            Permission.MEMBERS_READ,
            Permission.ANALYTICS_READ,
        }
    ),
    Role.SUPPORT: frozenset(
        {
            Permission.CATALOG_READ,
            Permission.MARKETING_READ,
            Permission.MALL_READ,
            Permission.ALLIANCE_READ,
            Permission.ORDERS_READ,
            Permission.ORDERS_FULFIL,
            Permission.ORDERS_REFUND,
            Permission.MEMBERS_READ,
            Permission.PRIVACY_HANDLE,
        }
    ),
}


@dataclass(frozen=True)
class MemberPrincipal:
    member_id: str
    merchant_id: str


@dataclass(frozen=True)
class AdminPrincipal:
    admin_id: str
    merchant_id: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


VERIFIED_TOKENS = 50_000  # signatures remembered per process; the set is emptied when full


class TokenCodec:
    """HS256 tokens. A token's signature is verified once per process and remembered
    (a crowd sends the same few thousand tokens many times a second); the type and the
    expiry are checked on every call, so a remembered token expires on time."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"growthloop-token:" + secret.encode()).digest()
        self._verified: dict[str, dict[str, Any]] = {}

    def issue(
        self, kind: TokenKind, subject: str, merchant_id: str, now: datetime, ttl: timedelta
    ) -> str:
        claims = {
            "sub": subject,
            "mer": merchant_id,
            "typ": kind,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def decode(self, token: str, kind: TokenKind, now: datetime) -> dict[str, Any]:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[token] = claims
        if claims.get("typ") != kind:
            raise Unauthenticated(f"{'An' if kind == 'admin' else 'A'} {kind} token is required.")
        if not isinstance(claims["exp"], int) or claims["exp"] <= now.timestamp():
            raise Unauthenticated("The token has expired.", reason="expired")
        return dict(claims)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                # Times are checked in decode() against the injected clock, not the wall clock.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["sub", "mer", "typ", "exp"],
                },
            )
        except jwt.PyJWTError:
            raise Unauthenticated("The token is invalid.") from None
        return claims


class PrincipalValidator(Protocol):
    """Checks against the database that a token's account is still active."""

    async def member_active(
        self, session: AsyncSession, member_id: str, merchant_id: str
    ) -> bool: ...

    async def admin_role(
        self, session: AsyncSession, admin_id: str, merchant_id: str
    ) -> Role | None: ...


_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _session(request: Request) -> AsyncSession:
    uow = getattr(request.state, "uow", None)
    if uow is None:
        raise RuntimeError("route is not served through UnitOfWorkRoute")
    session: AsyncSession = uow.session
    return session


SessionDep = Annotated[AsyncSession, Depends(_session)]


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


P = TypeVar("P", MemberPrincipal, AdminPrincipal)


def _verified(request: Request, kind: type[P]) -> P | None:
    """The principal of this kind already verified for this request (caller_scope verifies
    the caller before the route's dependency asks again)."""
    cached = getattr(request.state, "principal", None)
    return cached if isinstance(cached, kind) else None


def _claims(request: Request, token: str, kind: TokenKind) -> tuple[Any, str, str]:
    """The runtime, and the account and merchant a valid `kind` token names."""
    rt = _runtime(request)
    claims = rt.tokens.decode(token, kind, rt.clock.now())
    return rt, str(claims["sub"]), str(claims["mer"])


async def _member(request: Request, token: str, session: AsyncSession) -> MemberPrincipal:
    if (verified := _verified(request, MemberPrincipal)) is not None:
        return verified
    rt, member_id, merchant_id = _claims(request, token, "member")
    if not await rt.principals.member_active(session, member_id, merchant_id):
        raise Unauthenticated("The member no longer exists.")
    principal = MemberPrincipal(member_id=member_id, merchant_id=merchant_id)
    request.state.principal = principal
    return principal


async def _admin(request: Request, token: str, session: AsyncSession) -> AdminPrincipal:
    if (verified := _verified(request, AdminPrincipal)) is not None:
        return verified
    rt, admin_id, merchant_id = _claims(request, token, "admin")
    role = await rt.principals.admin_role(session, admin_id, merchant_id)
    if role is None:
        raise Unauthenticated("The admin account no longer exists.")
    principal = AdminPrincipal(admin_id=admin_id, merchant_id=merchant_id, role=role)
    request.state.principal = principal
    return principal


def member_scope(member_id: str) -> str:
    """The idempotency scope of a member's requests (the erasure finds them by it)."""
    return f"member:{member_id}"


async def caller_scope(request: Request, session: AsyncSession) -> str | None:
    """Who is calling, verified: `member:<id>`, `admin:<id>`, or `anonymous` without a
    token; None when a token is present but not valid now (expired, revoked, forged).
    Idempotent replays are scoped by this, so they never outlive the caller's access."""
    header = request.headers.get("authorization")
    if not header:
        return "anonymous"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    kind = "admin" if request.url.path.startswith("/v1/admin/") else "member"
    try:
        if kind == "admin":
            return f"admin:{(await _admin(request, token, session)).admin_id}"
        return member_scope((await _member(request, token, session)).member_id)
    except Unauthenticated:
        return None


async def current_member(
    request: Request, credentials: Credentials, session: SessionDep
) -> MemberPrincipal:
    if credentials is None:
        raise Unauthenticated("A member token is required.")
    return await _member(request, credentials.credentials, session)


async def optional_member(
    request: Request, credentials: Credentials, session: SessionDep
) -> MemberPrincipal | None:
    if credentials is None:
        return None
    return await current_member(request, credentials, session)


async def current_admin(
    request: Request, credentials: Credentials, session: SessionDep
) -> AdminPrincipal:
    if credentials is None:
        raise Unauthenticated("An admin token is required.")
    return await _admin(request, credentials.credentials, session)


CurrentMember = Annotated[MemberPrincipal, Depends(current_member)]
OptionalMember = Annotated[MemberPrincipal | None, Depends(optional_member)]
MerchantQuery = Annotated[
    str | None,
    Query(max_length=64, description="Browse without logging in: the merchant's id."),
]


class MerchantRequired(Invalid):
    code = "merchant_required"
    message = "Pass a member token or ?merchant_id= to browse a merchant's shop."


def browsing_merchant(member: MemberPrincipal | None, merchant_id: str | None) -> str:
    """Whose shop a consumer browses: a member's own merchant (a `?merchant_id=` naming
    another changes nothing), or the one an anonymous visitor names."""
    if member is not None:
        return member.merchant_id
    if merchant_id is None:
        raise MerchantRequired()
    return merchant_id


@dataclass(frozen=True)
class Browser:
    """A consumer browsing a shop: a member, or an anonymous visitor naming the merchant."""

    member: MemberPrincipal | None
    merchant_query: str | None  # the `?merchant_id=` given

    @property
    def member_id(self) -> str | None:
        return self.member.member_id if self.member else None

    def merchant_id(self) -> str:
        """Whose shop it is (`browsing_merchant`). Asked by the route, not the dependency,
        so that a request also invalid otherwise answers its validation error first."""
        return browsing_merchant(self.member, self.merchant_query)


async def _browser(member: OptionalMember, merchant_id: MerchantQuery = None) -> Browser:
    return Browser(member, merchant_id)


# A public read: before login with `?merchant_id=`, or with a member token.
Browsing = Annotated[Browser, Depends(_browser)]


CurrentAdmin = Annotated[AdminPrincipal, Depends(current_admin)]


def require(permission: Permission) -> Any:
    """Dependency: the current admin, who must hold `permission`."""

    async def dependency(admin: CurrentAdmin) -> AdminPrincipal:
        if not admin.can(permission):
            raise Forbidden(
                f"The {admin.role.value} role may not do this.",
                required_permission=permission.value,
            )
        return admin

    return Depends(dependency)


def ensure_same_merchant(row_merchant_id: str, principal_merchant_id: str) -> None:
    """API.md: another merchant's object is a 403."""
    if row_merchant_id != principal_merchant_id:
        raise Forbidden("This object belongs to another merchant.")


# The admin a route needs, by permission: `admin: CatalogReader`.
CatalogReader = Annotated[AdminPrincipal, require(Permission.CATALOG_READ)]
CatalogWriter = Annotated[AdminPrincipal, require(Permission.CATALOG_WRITE)]
OrdersReader = Annotated[AdminPrincipal, require(Permission.ORDERS_READ)]
OrdersFulfiller = Annotated[AdminPrincipal, require(Permission.ORDERS_FULFIL)]
OrdersRefunder = Annotated[AdminPrincipal, require(Permission.ORDERS_REFUND)]
MembersReader = Annotated[AdminPrincipal, require(Permission.MEMBERS_READ)]
MembersExporter = Annotated[AdminPrincipal, require(Permission.MEMBERS_EXPORT)]
MarketingReader = Annotated[AdminPrincipal, require(Permission.MARKETING_READ)]
MarketingWriter = Annotated[AdminPrincipal, require(Permission.MARKETING_WRITE)]
MallReader = Annotated[AdminPrincipal, require(Permission.MALL_READ)]
AllianceReader = Annotated[AdminPrincipal, require(Permission.ALLIANCE_READ)]
AnalyticsReader = Annotated[AdminPrincipal, require(Permission.ANALYTICS_READ)]
PrivacyHandler = Annotated[AdminPrincipal, require(Permission.PRIVACY_HANDLE)]
SettingsWriter = Annotated[AdminPrincipal, require(Permission.SETTINGS_WRITE)]
