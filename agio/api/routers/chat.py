"""`POST /api/chat`: start a run; stream its events (SSE) or wait for its answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from agio.api.auth import allow
from agio.api.deps import ContainerDep
from agio.api.schemas.common import error_responses
from agio.api.schemas.runs import (
    EVENT_STREAM,
    ChatRequest,
    ChatResponse,
    RunError,
    RunMetricsOut,
)
from agio.api.sse import event_stream_response
from agio.bus.base import Subscription
from agio.domain.errors import PermissionDenied, RunNotFound
from agio.domain.runs import MultitaskStrategy, Run
from agio.domain.security import Permission, Principal
from agio.runtime.loop import RunOutcome

router = APIRouter(prefix="/api", tags=["chat"], responses=error_responses(401, 403, 429))

Executor = Annotated[Principal, allow(Permission.EXECUTE_AGENT, group="chat")]

SSE_DOC = {
    "description": (
        "With `stream: true`: `text/event-stream`, one SSE message per run event "
        "(`event:` its type, `id:` its sequence number, `data:` its JSON data), ending with "
        "`run_completed`, `run_failed` or `run_cancelled`. With `stream: false`: the answer."
    ),
    "content": {
        **EVENT_STREAM,
        "application/json": {"schema": {"$ref": "#/components/schemas/ChatResponse"}},
    },
}


@router.post(
    "/chat",
    summary="Talk to an agent",
    response_model=ChatResponse,
    responses={200: SSE_DOC, **error_responses(404, 409)},
)
async def chat(body: ChatRequest, container: ContainerDep, who: Executor) -> Any:
    runs = container.run_service
    runs.check_message(body.message)
    # the run belongs to the caller; only an admin may run it on behalf of someone else
    user_id = who.user_id
    if body.user_id is not None and body.user_id != who.user_id:
        if not who.is_admin:
            raise PermissionDenied("Only an admin may set user_id to another user")
        user_id = body.user_id
    await runs.check_run_quota(user_id)
    strategy = body.multitask_strategy or MultitaskStrategy(container.settings.multitask_strategy)
    manager = container.run_manager
    subscriptions: list[Subscription] = []

    def subscribe(run: Run) -> None:
        # before the run's task can publish anything, so the stream needs no read of the
        # log; had it missed an event, the gap in `seq` would send it to the log
        # (`agio.runtime.follow`)
        subscriptions.append(runs.subscribe(run.id))

    try:
        run = await manager.start_chat(
            body.agent_id,
            body.message,
            session_id=body.session_id,
            user_id=user_id,
            session_visible_to=None if who.is_admin else who.user_id,
            before_launch=subscribe if body.stream else None,
            strategy=strategy,
        )
    except BaseException:
        for subscription in subscriptions:
            subscription.close()
        raise
    if body.stream:
        subscription = subscriptions[0]
        return event_stream_response(
            runs.follow(run.id, 0, subscription=subscription),
            ping=container.settings.sse_ping_seconds,
            open_streams=container.telemetry.sse_streams,
            retry_ms=container.settings.sse_retry_ms,
            headers={"X-Run-ID": run.id, "X-Session-ID": run.session_id},
        )
    outcome = await manager.wait(run.id)
    if outcome is None:  # not executing here: ended already, queued, or started elsewhere
        done = await runs.get_run(run.id)
        if done is not None and not done.status.terminal:
            async for _ in runs.follow(run.id, done.last_seq):
                pass  # until its terminal event, wherever it executes
            done = await runs.get_run(run.id)
        if done is None:
            raise RunNotFound(run.id)
        outcome = RunOutcome(done.status, done.response_content, done.metrics, done.error)
    return ChatResponse(
        run_id=run.id,
        session_id=run.session_id,
        status=outcome.status,
        response=outcome.response,
        metrics=RunMetricsOut(**outcome.metrics),
        error=RunError(**outcome.error) if outcome.error else None,
    )
