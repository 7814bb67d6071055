"""The browser session's cookie over HTTP: its name and attributes, and which requests it
may authenticate (docs/security.md, "Browser sessions").

- Over HTTPS the cookie is `__Host-agio_session` with `Secure` (the `__Host-` prefix:
  the browser keeps it only with `Secure`, `Path=/` and no `Domain`, so no other host
  can set it). Over plain HTTP it is `agio_session`, without `Secure`, and only for a
  client on a loopback address: a browser would not send a `Secure` cookie back over
  HTTP, and one without `Secure` would travel in the clear. A browser sign-in over plain
  HTTP from another address is refused (403).
- Always `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page makes
  the browser send it) and `Max-Age` up to the session's end.
- A request that says it comes from another origin (`Sec-Fetch-Site` other than
  `same-origin` or `none`, or an `Origin` that is not this server's) is never
  authenticated by the cookie, whatever the browser sent.

The scheme and the client address are the connection's, or a trusted proxy's
(`X-Forwarded-Proto`, `X-Forwarded-For` from AGIO_TRUSTED_PROXIES, applied by uvicorn's
proxy middleware before any of this runs).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from fastapi import Request, Response

from agio.api.addresses import client_address, is_loopback
from agio.domain.time import utcnow

SECURE_COOKIE = "__Host-agio_session"
LOOPBACK_COOKIE = "agio_session"
CSRF_HEADER = "X-CSRF-Token"
#: the methods that change nothing, and so need no CSRF token
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SAME_SITE_FETCHES = frozenset({"same-origin", "none"})


def over_https(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_allowed(request: Request) -> bool:
    """May a session cookie be set or read on this request: HTTPS, or plain HTTP from a
    loopback client."""
    return over_https(request) or is_loopback(client_address(request))


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if over_https(request) else LOOPBACK_COOKIE


def _same_origin(origin: str, request: Request) -> bool:
    """Is `origin` (an `Origin` header) this server, as the request's `Host` names it?"""
    try:
        parts = urlsplit(origin)
        default = _DEFAULT_PORTS.get(parts.scheme)
        if default is None or not parts.hostname:
            return False  # "null", or not a web origin
        if over_https(request) and parts.scheme != "https":
            return False
        host = urlsplit(f"//{request.headers.get('host', '')}")
        return parts.hostname == host.hostname and (parts.port or default) == (host.port or default)
    except ValueError:  # a port that is not a number
        return False


def from_another_site(request: Request) -> bool:
    """Does the request say it was made by a page of another origin?"""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in _SAME_SITE_FETCHES:
        return True
    origin = request.headers.get("origin")
    return origin is not None and not _same_origin(origin, request)


def session_token(request: Request) -> str | None:
    """The session cookie's value, if this request may be authenticated by it."""
    if not cookie_allowed(request) or from_another_site(request):
        return None
    return request.cookies.get(cookie_name(request)) or None


def set_session_cookie(
    response: Response, request: Request, token: str, expires_at: datetime
) -> None:
    response.set_cookie(
        cookie_name(request),
        token,
        max_age=max(0, int((expires_at - utcnow()).total_seconds())),
        path="/",
        secure=over_https(request),
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        cookie_name(request),
        path="/",
        secure=over_https(request),
        httponly=True,
        samesite="strict",
    )
