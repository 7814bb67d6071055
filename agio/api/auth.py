"""Authentication, authorization and rate limiting of every route: the `Requires`
dependency.

Every route declares one: `Requires(permission)` for a route that needs a principal
allowed to do `permission`, or `Requires(None)` for a public one (health, sign-in). A
test walks the route table and fails on a route without one. The dependency

1. authenticates the caller by the first credential it sent, in this order: `X-API-Key`,
   `Authorization: Bearer` (a JWT, or an API key), the browser session cookie
   (`agio.api.session_cookie`: never on a request from another site; on POST, PUT,
   PATCH and DELETE only with the session's `X-CSRF-Token`, else 403). A credential that
   fails is a 401, never a fall-back to the next one, and counts against the `auth`
   rate limit of the client address;
2. checks the permission (403);
3. counts the request against its rate-limit group, keyed by the principal (or, on public
   routes, the client address), and leaves the `RateLimit-*` headers for the middleware.

With `AGIO_AUTH_DISABLED` a request without credentials acts as a local admin, but only
on a loopback connection (both the server's and the client's address), and never one
that says it comes from another site.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from agio.api.addresses import client_address, is_loopback, local_connection
from agio.api.container import Container
from agio.api.session_cookie import (
    CSRF_HEADER,
    SAFE_METHODS,
    clear_session_cookie,
    from_another_site,
    session_token,
)
from agio.domain.errors import PermissionDenied, Unauthorized
from agio.domain.security import Permission, Principal, Role
from agio.services.browser_sessions import ENDED, CurrentSession

__all__ = [
    "LOCAL_PRINCIPAL",
    "Public",
    "Requires",
    "allow",
    "authenticate",
    "browser_session",
    "client_address",  # from agio.api.addresses, where they live now
    "is_loopback",
    "local_connection",
    "public",
]

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


def _check_csrf(request: Request, container: Container, cookie: str) -> None:
    if request.method in SAFE_METHODS:
        return
    if not container.auth.sessions.csrf_matches(cookie, request.headers.get(CSRF_HEADER)):
        raise PermissionDenied(
            f"A request signed in by the session cookie must send its {CSRF_HEADER}"
        )


async def _refused(request: Request) -> None:
    """Guessing keys, tokens or cookies is rate limited like guessing passwords."""
    container: Container = request.app.state.agio
    await container.rate_limits.hit("auth", f"ip:{client_address(request)}")


async def browser_session(request: Request) -> tuple[str, CurrentSession]:
    """The cookie's token and its live session, for `/api/auth/session` itself: a 401
    without one (which tells the browser to forget a cookie that no longer works), a 403
    for a change without the CSRF token."""
    container: Container = request.app.state.agio
    cookie = session_token(request)
    if cookie is None:
        raise Unauthorized(ENDED)
    try:
        session = await container.auth.sessions.current(cookie)
    except Unauthorized as exc:
        await _refused(request)
        forget = Response()
        clear_session_cookie(forget, request)
        exc.headers = {**(exc.headers or {}), "Set-Cookie": forget.headers["set-cookie"]}
        raise
    _check_csrf(request, container, cookie)
    return cookie, session


async def authenticate(request: Request, token: str | None, api_key: str | None) -> Principal:
    container: Container = request.app.state.agio
    try:
        if api_key:
            return await container.auth.from_key(api_key)
        if token and token.startswith("agio_"):  # an API key as a bearer token (Prometheus)
            return await container.auth.from_key(token)
        if token:
            return await container.auth.from_token(token)
        cookie = session_token(request)
        if cookie is not None:
            session = await container.auth.sessions.current(cookie)
            _check_csrf(request, container, cookie)
            return session.principal
        if (
            container.settings.auth_disabled
            and local_connection(request)
            and not from_another_site(request)
        ):
            return LOCAL_PRINCIPAL
        raise Unauthorized(
            "Authentication required: send X-API-Key or a Bearer token, or sign in "
            "(POST /api/auth/session)"
        )
    except Unauthorized:
        await _refused(request)
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
