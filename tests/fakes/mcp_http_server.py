"""An MCP server over streamable HTTP on 127.0.0.1, written with the SDK's `MCPServer`
(mcp 2's name for FastMCP), in a uvicorn thread: the `kind: mcp`, `transport: http` tests'
server. It records the headers of every request it gets (`seen_headers`).

Tools: `lookup` (a fixed fact about a word), `whisper` (lower case; for include/exclude),
`fail` (an MCP error result).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.types import ASGIApp, Receive, Scope, Send


def build_server() -> MCPServer:
    server = MCPServer("agio-test-http")

    @server.tool(description="A fact about a word.")
    def lookup(word: str) -> str:
        return f"{word} has {len(word)} letters"

    @server.tool(description="The text in lower case.")
    def whisper(text: str) -> str:
        return text.lower()

    @server.tool(description="Always fails.")
    def fail() -> str:
        raise ToolError("the fail tool failed, as it does")

    return server


class _Recorder:
    def __init__(self, app: ASGIApp, seen: list[dict[str, str]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)


class FakeMcpHttpServer:
    """`with FakeMcpHttpServer() as server:` … `server.url` is its MCP endpoint."""

    def __init__(self) -> None:
        self.seen_headers: list[dict[str, str]] = []
        app = build_server().streamable_http_app(stateless_http=True, json_response=True)
        self._server = uvicorn.Server(
            uvicorn.Config(
                _Recorder(app, self.seen_headers),
                host="127.0.0.1",
                port=0,
                log_level="error",
                lifespan="on",
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> FakeMcpHttpServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake MCP server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/mcp"
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.should_exit = True
        self._thread.join(15)
