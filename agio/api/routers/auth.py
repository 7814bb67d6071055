"""`/api/auth`: sign in for a JWT, browser sign-in (a session cookie), and who am I."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Form, Request, Response, status

from agio.api.auth import allow, browser_session, public
from agio.api.deps import ContainerDep
from agio.api.schemas.auth import (
    BrowserSessionOut,
    KeySignIn,
    Me,
    PasswordSignIn,
    TokenResponse,
)
from agio.api.schemas.common import error_responses
from agio.api.session_cookie import (
    CSRF_HEADER,
    clear_session_cookie,
    cookie_allowed,
    from_another_site,
    set_session_cookie,
)
from agio.domain.errors import PermissionDenied
from agio.domain.security import Permission, Principal
from agio.services.auth import AuthService

router = APIRouter(prefix="/api/auth", tags=["auth"])

_SESSION_RULES = (
    "The session cookie (`__Host-agio_session` over HTTPS, `agio_session` over plain HTTP "
    "from a loopback address) is `HttpOnly` and `SameSite=Strict`; it authenticates every "
    "route the user's role allows, server-sent event streams included, but never a "
    "request from another site (`Origin`, `Sec-Fetch-Site`), and a POST, PUT, PATCH or "
    f"DELETE only with the session's `{CSRF_HEADER}` header. `X-API-Key` or a Bearer "
    "token, when sent, is used instead of the cookie."
)


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Sign in with a username and password (OAuth2 password form); get a JWT",
    responses=error_responses(401, 429),
    dependencies=[public(group="auth")],
)
async def token(
    container: ContainerDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=1024)] = "",
) -> TokenResponse:
    user = await container.auth.login(username, password)
    issued = container.auth.issue_token(user)
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


def _session_out(
    auth: AuthService, who: Principal, csrf_token: str, expires_at: datetime
) -> BrowserSessionOut:
    return BrowserSessionOut(
        user_id=who.user_id,
        username=who.username,
        role=who.role,
        permissions=sorted(who.permissions),
        key_id=who.key_id,
        csrf_token=csrf_token,
        expires_at=expires_at,
        idle_timeout_seconds=int(auth.sessions.idle.total_seconds()),
    )


@router.post(
    "/session",
    response_model=BrowserSessionOut,
    summary="Sign in a browser (username and password, or an API key): a session cookie",
    description="Sets the session cookie and returns the principal and the session's CSRF "
    "token. Refused (403) from another site, and over plain HTTP from an address that is "
    "not loopback (use HTTPS). " + _SESSION_RULES,
    responses=error_responses(401, 403, 429),
    dependencies=[public(group="auth")],
)
async def open_session(
    body: Annotated[PasswordSignIn | KeySignIn, Body()],
    request: Request,
    response: Response,
    container: ContainerDep,
) -> BrowserSessionOut:
    if from_another_site(request):
        raise PermissionDenied("A sign-in from another site is refused")
    if not cookie_allowed(request):
        raise PermissionDenied(
            "Browser sign-in needs HTTPS (or a connection from this machine): serve Agio "
            "behind a TLS proxy (AGIO_TRUSTED_PROXIES) or reach it through an SSH tunnel"
        )
    if isinstance(body, PasswordSignIn):
        opened = await container.auth.sign_in(body.username, body.password)
    else:
        opened = await container.auth.sign_in_with_key(body.api_key)
    set_session_cookie(response, request, opened.token, opened.expires_at)
    response.headers["Cache-Control"] = "no-store"
    return _session_out(container.auth, opened.principal, opened.csrf_token, opened.expires_at)


@router.get(
    "/session",
    response_model=BrowserSessionOut,
    summary="The browser session of the cookie: the principal and the CSRF token",
    description="Answers from the session cookie only (401 without a live one). " + _SESSION_RULES,
    responses=error_responses(401, 429),
    dependencies=[public()],
)
async def current_session(
    request: Request, response: Response, container: ContainerDep
) -> BrowserSessionOut:
    _, session = await browser_session(request)
    response.headers["Cache-Control"] = "no-store"
    return _session_out(container.auth, session.principal, session.csrf_token, session.expires_at)


@router.delete(
    "/session",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Sign out: revoke the cookie's browser session and clear the cookie",
    description=f"Needs the session's `{CSRF_HEADER}` header (403 without it).",
    responses=error_responses(401, 403, 429),
    dependencies=[public()],
)
async def close_session(request: Request, container: ContainerDep) -> Response:
    _, session = await browser_session(request)
    await container.auth.sessions.close(session)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response, request)
    return response


@router.get(
    "/me",
    response_model=Me,
    summary="The caller: user, role and permissions",
    responses=error_responses(401, 403, 429),
)
async def me(who: Annotated[Principal, allow(Permission.READ_KEY)]) -> Me:
    return Me(
        user_id=who.user_id,
        username=who.username,
        role=who.role,
        permissions=sorted(who.permissions),
        authenticated_by=who.via,
        key_id=who.key_id,
    )
