"""An MCP server over stdio, written with the SDK's `MCPServer` (mcp 2's name for FastMCP),
for the `kind: mcp` tool tests: started as a subprocess by Agio, like any stdio server.

Tools: `echo` (its text back, with the `ECHO_PREFIX` environment variable before it),
`add` (two integers), `shout` (upper case; for include/exclude), `crash` (the process dies
mid-call, as a broken server does) and `pid` (the process id, to see a reconnection).
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("agio-test-stdio")


@server.tool(description="Say the text back.")
def echo(text: str) -> str:
    return os.environ.get("ECHO_PREFIX", "") + text


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> int:
    return a + b


@server.tool(description="The text in upper case.")
def shout(text: str) -> str:
    return text.upper()


@server.tool(description="Die in the middle of the call.")
def crash() -> str:
    os._exit(3)


@server.tool(description="The server's process id.")
def pid() -> int:
    return os.getpid()


if __name__ == "__main__":
    server.run()
