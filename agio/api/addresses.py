"""Who is at the other end of a connection, as far as the guards need to know: the client's
address (a trusted proxy's `X-Forwarded-For` already applied), and whether an address, or
the whole connection, is loopback."""

from __future__ import annotations

import ipaddress

from fastapi import Request


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
