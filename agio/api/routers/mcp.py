"""`/mcp`: Agio's MCP server over Streamable HTTP (SPEC §19; `agio/api/mcp_server.py`).

One route, POST (the server is stateless: no session, so no GET stream to open and no
session to DELETE, and both are a 405 as the transport's specification provides), guarded
like every route: X-API-Key or a Bearer key or JWT (401 otherwise). It leaves the
principal in the request's state and hands the untouched request to the MCP SDK. Out of
the OpenAPI schema: it speaks JSON-RPC, which MCP's own schema describes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from agio.api.auth import allow
from agio.api.deps import ContainerDep
from agio.api.mcp_server import AgentsMcpServer
from agio.domain.security import Permission, Principal

router = APIRouter(tags=["mcp"])

#: a viewer may connect (and lists no tools: none it may execute)
Caller = Annotated[Principal, allow(Permission.READ_AGENT)]


class _Handover(Response):
    """A response that lets the MCP server answer the request itself."""

    def __init__(self, server: AgentsMcpServer) -> None:
        super().__init__()
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._server.handle(scope, receive, send)


@router.post("/mcp", include_in_schema=False)
async def mcp_endpoint(request: Request, container: ContainerDep, who: Caller) -> Response:
    request.state.principal = who  # what the MCP handlers read (Requires set it too)
    return _Handover(container.mcp)
