"""One MCP server that `mcp` tool components name: its connection, kept and re-made
lazily, its tool listing, cached, and the calls of its tools (SPEC §19).

A link holds at most one connection (an MCP `Client` over stdio or streamable HTTP) for
every run that uses the component: calls of concurrent runs share it (MCP requests are
multiplexed). The connection is opened by the first run that needs it, and re-opened by
the next call after it broke (the server died, the network failed): a call on a broken
connection fails as a `ToolError`, which the model sees, never the run. The listing is
taken on the first connection and again on each re-connection (a restarted server may
list other tools); while the server cannot be reached, the last listing stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx2
import mcp_types
import structlog
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from agio.config.components import ToolComponent
from agio.tools.base import ToolError

log = structlog.get_logger("agio.tools.mcp")

#: how long a failed connection keeps runs from trying again to list the tools
LIST_RETRY_SECONDS = 5.0
_MODEL_NAME = re.compile(r"[^A-Za-z0-9_-]")
_EXCERPT = 500


class McpTool:
    """One tool of an MCP server, as an agent's tool: the arguments go to the server's
    `tools/call`; the text of the reply is the result, an `isError` reply a `ToolError`."""

    def __init__(self, link: McpLink, remote: mcp_types.Tool, name: str, timeout: float) -> None:
        self.link = link
        self.remote_name = remote.name
        self.name = name
        self.description = remote.description or remote.title or ""
        self.parameters: dict[str, Any] = dict(remote.input_schema or {"type": "object"})
        self.parameters.setdefault("type", "object")
        self.timeout = timeout
        #: the component the tool comes from (its `requires_approval` covers the tool)
        self.component_name = link.name

    async def run(self, arguments: dict[str, Any]) -> Any:
        return await self.link.call(self.remote_name, arguments)

    def __repr__(self) -> str:
        return f"McpTool(name={self.name!r}, server={self.link.name!r})"


def model_name(prefix: str, remote: str) -> str:
    """The name the model sees: the prefix and the server's name, with anything that is
    not a letter, digit, `_` or `-` as `_` (the names model APIs accept), at most 64."""
    return _MODEL_NAME.sub("_", prefix + remote)[:64]


def result_of(result: mcp_types.CallToolResult, tool: str) -> Any:
    """A `tools/call` reply as a tool result: its text (one block: that text; several: a
    list), else its structured content; an error reply raises `ToolError`."""
    parts: list[Any] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        else:  # images, audio, resources: say what came, not the bytes
            kind = getattr(block, "type", "content")
            mime = getattr(block, "mime_type", None)
            parts.append({"type": kind, **({"mime_type": mime} if mime else {})})
    if result.is_error:
        text = " ".join(p for p in parts if isinstance(p, str)) or "no detail"
        raise ToolError(f"MCP tool '{tool}' failed: {text[:_EXCERPT]}")
    if not parts and result.structured_content is not None:
        return result.structured_content
    if len(parts) == 1:
        return parts[0]
    return parts


class _Connection:
    """An open MCP client, held by a task of its own (the SDK's transports are anyio
    contexts, entered and left in one task) until `close`."""

    def __init__(self, open_client: Callable[[AsyncExitStack], Awaitable[Client]]) -> None:
        self._open = open_client
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.client: Client | None = None
        self.error: BaseException | None = None

    async def start(self, timeout: float) -> Client:  # noqa: ASYNC109 - it closes on timeout
        self._task = asyncio.create_task(self._hold(), name="mcp-connection")
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            await asyncio.wait({ready, self._task}, timeout=timeout, return_when="FIRST_COMPLETED")
        except BaseException:
            await self.close()
            raise
        finally:
            ready.cancel()
        if self.client is None:
            await self.close()
            if self.error is not None:
                raise self.error
            raise TimeoutError(f"no answer within {timeout:g}s")
        return self.client

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done() and self.client is not None

    async def _hold(self) -> None:
        try:
            async with AsyncExitStack() as stack:
                self.client = await self._open(stack)
                self._ready.set()
                await self._stop.wait()
        except Exception as exc:  # the transport broke: calls see it as a dead connection
            self.error = exc
        finally:
            self.client = None

    async def close(self) -> None:
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    return str(exc) or type(exc).__name__


class McpLink:
    """The server of one `mcp` component configuration (see the module's docstring)."""

    def __init__(self, component: ToolComponent, *, connect_timeout: float) -> None:
        self.name = component.name
        self.component = component
        self.connect_timeout = connect_timeout
        self._lock = asyncio.Lock()
        self._connection: _Connection | None = None
        self._connections_made = 0
        self._tools: dict[str, McpTool] | None = None
        self._failed_at: float | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.in_flight = 0
        #: replaced by a newer configuration: closed once its last call is done
        self.retired = False

    # ------------------------------------------------------------------ connection

    async def _open_client(self, stack: AsyncExitStack) -> Client:
        c = self.component
        transport: Any
        if c.transport == "stdio":
            assert c.command is not None
            transport = StdioServerParameters(
                command=c.command,
                args=list(c.args),
                env={key: value.get_secret_value() for key, value in c.env.items()} or None,
                cwd=c.cwd,
            )
        else:
            assert c.url is not None
            http = httpx2.AsyncClient(
                headers={key: value.get_secret_value() for key, value in c.headers.items()},
                timeout=httpx2.Timeout(self.connect_timeout, read=max(c.timeout, 30.0)),
            )
            await stack.enter_async_context(http)
            transport = streamable_http_client(c.url, http_client=http)
        client = Client(transport, cache=None, read_timeout_seconds=c.timeout)
        return await stack.enter_async_context(client)

    async def _client(self) -> Client:
        """The open client; a new connection when there is none or it broke."""
        connection = self._connection
        if connection is not None and connection.alive and connection.client is not None:
            return connection.client
        async with self._lock:
            connection = self._connection
            if connection is not None and connection.alive and connection.client is not None:
                return connection.client
            if connection is not None:
                self._drop(connection)
            connection = _Connection(self._open_client)
            client = await connection.start(self.connect_timeout)
            self._connection = connection
            self._connections_made += 1
            if self._connections_made > 1 or self._tools is None:
                try:
                    await self._list(client)
                except Exception as exc:  # the last listing stands
                    log.warning("mcp_list_failed", tool=self.name, reason=_reason(exc)[:_EXCERPT])
            log.info("mcp_connected", tool=self.name, transport=self.component.transport)
            return client

    def _drop(self, connection: _Connection) -> None:
        """Forget a broken connection and close it in the background."""
        if self._connection is connection:
            self._connection = None
        task = asyncio.create_task(connection.close(), name="mcp-close")
        self._closing.add(task)
        task.add_done_callback(self._closed)

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("mcp_close_failed", tool=self.name)

    async def close(self) -> None:
        async with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
        for task in list(self._closing):
            with contextlib.suppress(BaseException):
                await task

    # ------------------------------------------------------------------ tools

    async def _list(self, client: Client) -> None:
        listed: list[mcp_types.Tool] = []
        cursor: str | None = None
        for _ in range(100):  # a server that pages for ever cannot hang a run
            page = await client.list_tools(cursor=cursor)
            listed.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        c = self.component
        wanted = [
            t
            for t in listed
            if (c.include is None or t.name in c.include) and t.name not in c.exclude
        ]
        tools: dict[str, McpTool] = {}
        for remote in wanted:
            name = model_name(c.tool_prefix, remote.name)
            tools.setdefault(name, McpTool(self, remote, name, c.timeout))
        self._tools = tools

    async def tools(self) -> dict[str, McpTool]:
        """The server's tools, by the names the model sees: the cached listing, else
        listed now. A server that cannot be reached gives the last listing, or none at
        all (and is not asked again for `LIST_RETRY_SECONDS`)."""
        if self._tools is not None:
            return dict(self._tools)
        if self._failed_at is not None and time.monotonic() - self._failed_at < LIST_RETRY_SECONDS:
            return {}
        try:
            await self._client()
        except Exception as exc:
            self._failed_at = time.monotonic()
            log.warning("mcp_tools_unavailable", tool=self.name, reason=_reason(exc)[:_EXCERPT])
            return {}
        return dict(self._tools or {})

    async def call(self, remote: str, arguments: dict[str, Any]) -> Any:
        """Call the server's tool `remote`; anything that goes wrong is a `ToolError`."""
        self.in_flight += 1
        try:
            try:
                client = await self._client()
            except Exception as exc:
                raise ToolError(
                    f"MCP server '{self.name}' cannot be reached: {_reason(exc)[:_EXCERPT]}"
                ) from None
            try:
                result = await client.call_tool(remote, arguments)
            except MCPError as exc:
                if exc.code == mcp_types.CONNECTION_CLOSED:
                    self._drop_client(client)
                    raise ToolError(
                        f"MCP server '{self.name}' closed the connection during the call"
                    ) from None
                raise ToolError(f"MCP tool '{remote}' failed: {_reason(exc)[:_EXCERPT]}") from None
            except (ToolError, asyncio.CancelledError):
                raise
            except Exception as exc:  # the transport broke
                self._drop_client(client)
                raise ToolError(
                    f"MCP server '{self.name}' failed during the call: {_reason(exc)[:_EXCERPT]}"
                ) from None
            return result_of(result, remote)
        finally:
            self.in_flight -= 1
            if self.retired and self.in_flight == 0:
                self.disconnect()

    def disconnect(self) -> None:
        """Close the connection in the background (the next call opens another)."""
        connection = self._connection
        if connection is not None:
            self._drop(connection)

    def _drop_client(self, client: Client) -> None:
        connection = self._connection
        if connection is not None and (connection.client is client or not connection.alive):
            self._drop(connection)
