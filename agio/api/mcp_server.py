"""Agio as an MCP server (SPEC §19): every agent the caller may execute is a tool,
`ask_<agent name>` (`message`, optional `session_id`), answered by a run like any chat's.

Built on the official SDK's low-level `Server` (the tools depend on who asks, which the
decorator-style `MCPServer` does not model) and its Streamable HTTP session manager in
stateless mode: each HTTP request stands alone, so any replica answers any request and no
MCP session outlives a request. The route in `agio/api/routers/mcp.py` authenticates the
request (`Requires`, like every route) and leaves the principal in the request's state,
where the handlers here read it. Docs: docs/mcp.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import mcp_types
import structlog
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from agio import __version__
from agio.api.ratelimit import RateLimits
from agio.api.run_outcome import outcome_of
from agio.domain.errors import AgioError, RunNotFound, Unauthorized
from agio.domain.runs import RunStatus
from agio.domain.security import Permission, Principal
from agio.runtime.loop import RunOutcome
from agio.runtime.manager import RunManager
from agio.runtime.run_service import RunService
from agio.services.components import ComponentService

log = structlog.get_logger("agio.api.mcp")

TOOL_PREFIX = "ask_"
PAGE = 100
#: the keys of a result's `_meta`
RUN_ID_META = "agio/run_id"
SESSION_ID_META = "agio/session_id"

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "minLength": 1, "description": "What to ask the agent."},
        "session_id": {
            "type": "string",
            "description": "Go on with this session (`ses_…`, from an earlier answer's "
            "`session_id`); a new session when left out.",
        },
    },
    "required": ["message"],
    "additionalProperties": False,
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "run_id": {"type": "string"},
        "session_id": {"type": "string"},
        "status": {"type": "string"},
        "response": {"type": ["string", "null"]},
    },
    "required": ["run_id", "session_id", "status", "response"],
}


def _principal(ctx: ServerRequestContext[Any, Any]) -> Principal:
    request = ctx.request
    state = getattr(request, "scope", {}).get("state") or {}
    principal = state.get("principal")
    if not isinstance(principal, Principal):  # the route always sets it; never guess
        raise Unauthorized("Authentication required")
    return principal


def _error(message: str) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=message)], is_error=True
    )


class AgentsMcpServer:
    """The MCP server of `/mcp` and its session manager's lifetime (`start`, `close`)."""

    def __init__(
        self,
        components: ComponentService,
        run_manager: RunManager,
        run_service: RunService,
        rate_limits: RateLimits,
    ) -> None:
        self.components = components
        self.run_manager = run_manager
        self.run_service = run_service
        self.rate_limits = rate_limits
        self.server: Server[Any] = Server(
            "agio",
            version=__version__,
            description="Agio's agents, each a tool: ask_<agent name>.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self.manager = StreamableHTTPSessionManager(app=self.server, stateless=True)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        started = asyncio.Event()

        async def hold() -> None:  # the manager's task group lives in a task of its own
            async with self.manager.run():
                started.set()
                await self._stop.wait()

        self._task = asyncio.create_task(hold(), name="mcp-server")
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait({waiting, self._task}, return_when="FIRST_COMPLETED")
        waiting.cancel()
        if self._task.done():
            self._task.result()  # raises what stopped it

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)

    # ------------------------------------------------------------------ tools

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        principal = _principal(ctx)
        if not principal.can(Permission.EXECUTE_AGENT):
            return mcp_types.ListToolsResult(tools=[])
        cursor = params.cursor if params is not None else None
        offset = int(cursor) if cursor and cursor.isdigit() else 0
        page = await self.components.list_agents(tag=None, limit=PAGE, offset=offset)
        tools = [
            mcp_types.Tool(
                name=TOOL_PREFIX + agent.name,
                title=agent.name,
                description=agent.description or f"Ask the Agio agent '{agent.name}'.",
                input_schema=INPUT_SCHEMA,
                output_schema=OUTPUT_SCHEMA,
            )
            for agent in page.items
            if agent.enabled
        ]
        more = offset + len(page.items) < page.total
        return mcp_types.ListToolsResult(
            tools=tools, next_cursor=str(offset + PAGE) if more else None
        )

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        principal = _principal(ctx)
        name = params.name
        if not name.startswith(TOOL_PREFIX):
            return _error(f"Unknown tool '{name}': Agio's tools are ask_<agent name>")
        if not principal.can(Permission.EXECUTE_AGENT):
            return _error(f"The {principal.role.value} role may not run agents")
        arguments = params.arguments or {}
        message = arguments.get("message")
        session_id = arguments.get("session_id")
        if not isinstance(message, str) or not message:
            return _error("`message` (a non-empty string) is required")
        if session_id is not None and not isinstance(session_id, str):
            return _error("`session_id` must be a string")
        unknown = set(arguments) - {"message", "session_id"}
        if unknown:
            return _error(f"Unknown arguments: {', '.join(sorted(unknown))}")
        try:
            return await self._ask(principal, name[len(TOOL_PREFIX) :], message, session_id)
        except AgioError as exc:  # not found, busy session, quotas, limits: the caller's
            return _error(str(exc))

    async def _ask(
        self, who: Principal, agent: str, message: str, session_id: str | None
    ) -> mcp_types.CallToolResult:
        await self.rate_limits.hit("chat", f"usr:{who.user_id}")
        self.run_service.check_message(message)
        await self.run_service.check_run_quota(who.user_id)
        run = await self.run_manager.start_chat(
            agent,
            message,
            session_id=session_id,
            user_id=who.user_id,
            session_visible_to=None if who.is_admin else who.user_id,
        )
        log.info("mcp_run_started", run_id=run.id, agent=agent)
        outcome = await self._outcome(run.id)
        answer = outcome.response or ""
        structured = {
            "run_id": run.id,
            "session_id": run.session_id,
            "status": outcome.status.value,
            "response": outcome.response,
        }
        failed = outcome.status is not RunStatus.COMPLETED
        if failed:
            detail = (outcome.error or {}).get("message") or ""
            state = "ended" if outcome.status.terminal else "is"
            answer = f"The run {state} {outcome.status.value}" + (f": {detail}" if detail else "")
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(type="text", text=answer)],
            structured_content=structured,
            is_error=failed,
            _meta={RUN_ID_META: run.id, SESSION_ID_META: run.session_id},
        )

    async def _outcome(self, run_id: str) -> RunOutcome:
        """How the run ended: from its task here, else from the log (queued, or executing
        in another process)."""
        try:
            return await outcome_of(self.run_manager, self.run_service, run_id)
        except RunNotFound:
            return RunOutcome(RunStatus.FAILED, None, {}, {"message": "the run is gone"})
