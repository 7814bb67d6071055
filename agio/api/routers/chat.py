"""`POST /api/chat`: start a run; stream its events (SSE) or wait for its answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from agio.api.auth import allow
from agio.api.container import Container
from agio.api.deps import ContainerDep
from agio.api.idempotency import REPLAYED, IdempotencyDep, replay_documented
from agio.api.run_outcome import outcome_of
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
from agio.domain.idempotency import IdempotencyRecord
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
    openapi_extra=replay_documented(200),
)
async def chat(
    body: ChatRequest, container: ContainerDep, who: Executor, idem: IdempotencyDep
) -> Any:
    runs = container.run_service
    # the run belongs to the caller; only an admin may run it on behalf of someone else
    user_id = who.user_id
    if body.user_id is not None and body.user_id != who.user_id:
        if not who.is_admin:
            raise PermissionDenied("Only an admin may set user_id to another user")
        user_id = body.user_id
    # --- idempotency: a repeat gets the first request's run (its stream, or its answer)
    replay = await idem.begin(who, body)
    if replay is not None:
        return await _replay(container, body, replay)
    # --- webhooks: the run's own webhook, checked below (422), stored with the run
    webhook = body.webhook
    strategy = body.multitask_strategy or MultitaskStrategy(container.settings.multitask_strategy)
    manager = container.run_manager
    subscriptions: list[Subscription] = []

    def subscribe(run: Run) -> None:
        if webhook is not None:
            container.webhooks.attach_to_run(run.id, webhook)
        if not body.stream:
            return
        # before the run's task can publish anything, so the stream needs no read of the
        # log; had it missed an event, the gap in `seq` would send it to the log
        # (`agio.runtime.follow`)
        subscriptions.append(runs.subscribe(run.id))

    try:
        runs.check_message(body.message)
        await runs.check_run_quota(user_id)
        if webhook is not None:
            await container.webhooks.check_url(webhook, "webhook")
        run = await manager.start_chat(
            body.agent_id,
            body.message,
            session_id=body.session_id,
            user_id=user_id,
            session_visible_to=None if who.is_admin else who.user_id,
            before_launch=subscribe if body.stream or webhook is not None else None,
            strategy=strategy,
        )
    except BaseException:
        await idem.abandon()  # an error is not remembered: a retry may succeed
        for subscription in subscriptions:
            subscription.close()
        raise
    await idem.finish(200, run_id=run.id)
    if body.stream:
        subscription = subscriptions[0]
        return event_stream_response(
            runs.follow(run.id, 0, subscription=subscription),
            ping=container.settings.sse_ping_seconds,
            open_streams=container.telemetry.sse_streams,
            retry_ms=container.settings.sse_retry_ms,
            headers={"X-Run-ID": run.id, "X-Session-ID": run.session_id},
        )
    # executing here: its task's outcome; else (ended already, queued, or started
    # elsewhere) its log followed to its end, wherever it executes
    return _answer(run, await outcome_of(container.run_manager, container.run_service, run.id))


def _answer(run: Run, outcome: RunOutcome) -> ChatResponse:
    return ChatResponse(
        run_id=run.id,
        session_id=run.session_id,
        status=outcome.status,
        response=outcome.response,
        metrics=RunMetricsOut(**outcome.metrics),
        error=RunError(**outcome.error) if outcome.error else None,
    )


async def _replay(container: Container, body: ChatRequest, replay: IdempotencyRecord) -> Any:
    """The response of the first request with this Idempotency-Key, which started
    `replay.run_id`: its events from the first one (`stream: true`), or its answer once it
    has ended, as the first request gave it."""
    runs = container.run_service
    run = await runs.get_run(replay.run_id or "")
    if run is None:
        raise RunNotFound(replay.run_id or "")
    headers = {"X-Run-ID": run.id, "X-Session-ID": run.session_id, REPLAYED: "true"}
    if body.stream:
        return event_stream_response(
            runs.follow(run.id, 0),
            ping=container.settings.sse_ping_seconds,
            open_streams=container.telemetry.sse_streams,
            retry_ms=container.settings.sse_retry_ms,
            headers=headers,
        )
    answer = _answer(run, await outcome_of(container.run_manager, container.run_service, run.id))
    return JSONResponse(answer.model_dump(mode="json"), headers=headers)
