"""`/api/runs`: list and inspect runs, and read or follow their event log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from agio.api.auth import allow
from agio.api.deps import ContainerDep, Limit, Offset, RunIdPath, owned_run
from agio.api.schemas.common import Paginated, error_responses
from agio.api.schemas.model_calls import ModelCallOut
from agio.api.schemas.runs import (
    EVENT_STREAM,
    ID_PATTERN,
    EventOut,
    RunDetail,
    RunEvents,
    RunSummary,
)
from agio.api.sse import event_stream_response
from agio.domain.errors import ValidationFailed
from agio.domain.runs import RunStatus
from agio.domain.security import Permission, Principal

router = APIRouter(prefix="/api/runs", tags=["runs"], responses=error_responses(401, 403, 429))

Reader = Annotated[Principal, allow(Permission.READ_RUN)]

IdFilter = Annotated[str | None, Query(pattern=ID_PATTERN)]


@router.get("", response_model=Paginated[RunSummary], summary="List runs, newest first")
async def list_runs(
    container: ContainerDep,
    who: Reader,
    agent_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="An agent's id or name.")
    ] = None,
    user_id: IdFilter = None,
    session_id: IdFilter = None,
    status: RunStatus | None = None,
    schedule_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="Only the runs this schedule fired.")
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Paginated[RunSummary]:
    page = await container.run_service.list_runs(
        who,
        agent=agent_id,
        user_id=user_id,
        session_id=session_id,
        status=status,
        schedule_id=schedule_id,
        limit=limit,
        offset=offset,
    )
    return Paginated[RunSummary].of(
        [RunSummary.from_run(r) for r in page.items], page.total, limit, offset
    )


@router.get(
    "/{run_id}",
    response_model=RunDetail,
    summary="A run with its steps",
    responses=error_responses(404),
)
async def get_run(run_id: RunIdPath, container: ContainerDep, who: Reader) -> RunDetail:
    run = await container.run_service.owned_run(who, run_id, with_steps=True)
    return RunDetail.from_run(run, await container.run_service.child_runs(run.id))


EVENTS_DOC = {
    "description": (
        "JSON by default; with `Accept: text/event-stream`, the stored events after "
        "`Last-Event-ID` as SSE, then live ones until the run ends."
    ),
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/RunEvents"}},
        **EVENT_STREAM,
    },
}


@router.get(
    "/{run_id}/events",
    response_model=RunEvents,
    summary="A run's event log",
    responses={
        200: EVENTS_DOC,
        204: {
            "description": (
                "SSE only: `Last-Event-ID` is at or past the last event of an ended run, "
                "so there is nothing more to send (an EventSource stops reconnecting)."
            )
        },
        **error_responses(404),
    },
)
async def run_events(
    run_id: RunIdPath,
    request: Request,
    container: ContainerDep,
    who: Reader,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    last_event_id: Annotated[
        str | None, Header(description="SSE only: resume after this sequence number.")
    ] = None,
) -> Any:
    run = await owned_run(container, who, run_id)
    if "text/event-stream" in request.headers.get("accept", ""):
        after = 0
        if last_event_id:
            if not (last_event_id.strip().isdigit() and len(last_event_id.strip()) <= 18):
                raise ValidationFailed(
                    "Last-Event-ID must be an event sequence number",
                    details=[
                        {
                            "loc": ["header", "last-event-id"],
                            "msg": "not an integer",
                            "type": "int_parsing",
                        }
                    ],
                )
            after = int(last_event_id)
            if container.run_service.nothing_after(run, after):
                # the client has seen the whole log of an ended run: 204 is what tells an
                # EventSource to stop reconnecting (WHATWG HTML, server-sent events)
                return Response(status_code=204)
        return event_stream_response(
            container.run_service.follow(run_id, after),
            ping=container.settings.sse_ping_seconds,
            open_streams=container.telemetry.sse_streams,
            retry_ms=container.settings.sse_retry_ms,
        )
    total, events = await container.run_service.events_page(run_id, offset=offset, limit=limit)
    return RunEvents(run_id=run_id, total=total, events=[EventOut.from_event(e) for e in events])


@router.get(
    "/{run_id}/model_calls",
    response_model=Paginated[ModelCallOut],
    summary="A run's model calls: request messages, tools, response, usage, latency, error",
    responses=error_responses(404),
)
async def run_model_calls(
    run_id: RunIdPath,
    container: ContainerDep,
    who: Reader,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Paginated[ModelCallOut]:
    await owned_run(container, who, run_id)
    total, calls = await container.run_service.model_calls_page(run_id, offset=offset, limit=limit)
    return Paginated[ModelCallOut].of([ModelCallOut.of(c) for c in calls], total, limit, offset)
