"""Authentication, authorization and rate limiting of every route: the `Requires`
dependency.

Every route declares one: `Requires(permission)` for a route that needs a principal
allowed to do `permission`, or `Requires(None)` for a public one (health, sign-in). A
test walks the route table and fails on a route without one. The dependency

1. authenticates the caller (`X-API-Key`, else `Authorization: Bearer <JWT>`); a failure
   is a 401 that also counts against the `auth` rate limit of the client address;
2. checks the permission (403);
3. counts the request against its rate-limit group, keyed by the principal (or, on public
   routes, the client address), and leaves the `RateLimit-*` headers for the middleware.

With `AGIO_AUTH_DISABLED` a request without credentials acts as a local admin, but only
on a loopback connection (both the server's and the client's address).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from agio.api.container import Container
from agio.domain.errors import PermissionDenied, Unauthorized
from agio.domain.security import Permission, Principal, Role

bearer_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/auth/token",
    auto_error=False,
    scheme_name="BearerToken",
    description="A JWT from `POST /api/auth/token`.",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="APIKey",
    description="An API key (`agio_…`) from `POST /api/keys` or `agio keys create`.",
)

LOCAL_PRINCIPAL = Principal("usr_local", "local", Role.ADMIN, via="local")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def client_address(request: Request) -> str:
    # X-Forwarded-For is applied to the scope by uvicorn's ProxyHeadersMiddleware, for
    # AGIO_TRUSTED_PROXIES only (see create_app)
    return request.client.host if request.client else "unknown"


def local_connection(request: Request) -> bool:
    server = request.scope.get("server")
    server_host = server[0] if server else None
    return is_loopback(server_host) and is_loopback(client_address(request))


async def authenticate(request: Request, token: str | None, api_key: str | None) -> Principal:
    container: Container = request.app.state.agio
    try:
        if api_key:
            return await container.auth.from_key(api_key)
        if token and token.startswith("agio_"):  # an API key as a bearer token (Prometheus)
            return await container.auth.from_key(token)
        if token:
            return await container.auth.from_token(token)
        if container.settings.auth_disabled and local_connection(request):
            return LOCAL_PRINCIPAL
        raise Unauthorized("Authentication required: send X-API-Key or a Bearer token")
    except Unauthorized:
        # guessing keys or tokens is rate limited like guessing passwords
        await container.rate_limits.hit("auth", f"ip:{client_address(request)}")
        raise


async def _count(request: Request, group: str, principal: Principal | None) -> None:
    container: Container = request.app.state.agio
    caller = f"usr:{principal.user_id}" if principal else f"ip:{client_address(request)}"
    usage = await container.rate_limits.hit(group, caller)
    if usage is not None:
        request.state.rate_limit_headers = usage.headers()


def _group(request: Request, group: str | None) -> str:
    return group or ("read" if request.method in ("GET", "HEAD") else "write")


class Requires:
    """A protected route's dependency: the permission it needs, and which rate limit
    counts it (by default `read` for GET, `write` for the rest)."""

    def __init__(self, permission: Permission, *, group: str | None = None) -> None:
        self.permission = permission
        self.group = group

    def __repr__(self) -> str:
        return f"Requires({self.permission.value})"

    async def __call__(
        self,
        request: Request,
        token: Annotated[str | None, Depends(bearer_scheme)],
        api_key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> Principal:
        principal = await authenticate(request, token, api_key)
        request.state.principal = principal
        if not principal.can(self.permission):
            raise PermissionDenied(
                f"The {principal.role.value} role may not do this (needs {self.permission.value})"
            )
        await _count(request, _group(request, self.group), principal)
        return principal


class Public:
    """A public route's dependency: no credentials (and none in its schema), rate limited
    by client address."""

    def __init__(self, *, group: str | None = None) -> None:
        self.group = group

    def __repr__(self) -> str:
        return "Public()"

    async def __call__(self, request: Request) -> None:
        await _count(request, _group(request, self.group), None)


def allow(permission: Permission, *, group: str | None = None) -> Any:
    """`Annotated[Principal, allow(Permission.X)]`: the principal, allowed to do X."""
    return Depends(Requires(permission, group=group))


def public(*, group: str | None = None) -> Any:
    """For `dependencies=[public()]` on a route that anybody may call."""
    return Depends(Public(group=group))
