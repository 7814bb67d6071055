"""`POST /api/agui/{agent_id}`: an AG-UI `RunAgentInput` starts a run of the agent, answered
with the AG-UI event stream (SPEC §18; docs/ag-ui.md)."""

from __future__ import annotations

from typing import Any

from ag_ui.core import RunAgentInput
from fastapi import APIRouter
from sse_starlette import EventSourceResponse

from agio.api.agui.events import AguiTranslator, agui_stream
from agio.api.agui.input import chat_input
from agio.api.deps import AgentKey, ContainerDep
from agio.api.routers.chat import Executor
from agio.api.schemas.common import error_responses
from agio.api.sse import counted_stream_response
from agio.bus.base import Subscription
from agio.domain.runs import MultitaskStrategy, Run

router = APIRouter(prefix="/api", tags=["ag-ui"], responses=error_responses(401, 403, 429))

AGUI_EVENT_SCHEMA: dict[str, Any] = {
    "title": "AguiServerSentEvent",
    "description": (
        "One SSE message per AG-UI event: `data:` the event as JSON (its `type`: "
        "`RUN_STARTED`, `STEP_STARTED`, `TEXT_MESSAGE_CONTENT`, `TOOL_CALL_START`, …, "
        "`RUN_FINISHED` or `RUN_ERROR`). Lines starting with `:` are keep-alive comments."
    ),
    "type": "object",
    "properties": {
        "data": {"type": "string", "contentMediaType": "application/json"},
        # no `event:` line is sent: a client reads the SSE default, "message"
        "event": {"const": "message"},
    },
    "required": ["data"],
    "additionalProperties": False,
}

STREAM_DOC = {
    "description": (
        "`text/event-stream`: the run as AG-UI events, from `RUN_STARTED` to `RUN_FINISHED` "
        "(with `outcome.pendingToolCallIds` when the model called front-end tools, whose "
        "results the next input carries) or `RUN_ERROR`. Headers `X-Run-ID` and "
        "`X-Session-ID` name the Agio run and session."
    ),
    "content": {"text/event-stream": {"schema": AGUI_EVENT_SCHEMA}},
}


@router.post(
    "/agui/{agent_id}",
    summary="Run an agent for an AG-UI client",
    response_class=EventSourceResponse,
    responses={200: STREAM_DOC, **error_responses(404, 409, 422)},
)
async def run_agent(
    agent_id: AgentKey, body: RunAgentInput, container: ContainerDep, who: Executor
) -> EventSourceResponse:
    """The AG-UI `RunAgentInput`: `threadId` is the conversation (an Agio session),
    `messages` the client's view of it (what follows its last assistant message is new),
    `tools` the front-end tools the model may call (the client runs them), `context` and
    `state` given to the model for this run."""
    runs = container.run_service
    message, turn = chat_input(body)
    if message:
        runs.check_message(message)
    await runs.check_run_quota(who.user_id)
    subscriptions: list[Subscription] = []

    def subscribe(run: Run) -> None:
        # before the run's task can publish anything (as `POST /api/chat` does)
        subscriptions.append(runs.subscribe(run.id))

    try:
        run = await container.run_manager.start_chat(
            agent_id,
            message,
            session_id=None,
            user_id=who.user_id,
            session_visible_to=None if who.is_admin else who.user_id,
            before_launch=subscribe,
            # a client's thread holds one run at a time: a second input while one runs is
            # a 409 SessionBusy (a queued run could not keep the client's tools and results)
            strategy=MultitaskStrategy.REJECT,
            turn=turn,
        )
    except BaseException:
        for subscription in subscriptions:
            subscription.close()
        raise
    translator = AguiTranslator(
        body.thread_id, body.run_id, agio_run_id=run.id, session_id=run.session_id
    )
    return counted_stream_response(
        agui_stream(runs.follow(run.id, 0, subscription=subscriptions[0]), translator),
        ping=container.settings.sse_ping_seconds,
        open_streams=container.telemetry.sse_streams,
        headers={"X-Run-ID": run.id, "X-Session-ID": run.session_id},
    )
