"""`/v1/responses`: the Responses API subset (SPEC §17). A response is an Agio run
(`resp_…` is `run_…` renamed) started like `POST /api/chat`, always on a new session
whose history is the request's input after, with `previous_response_id`, that
response's conversation. Its stream is the run's event log read by
`agio.api.openai_compat.responses.ResponseLog`, numbered the same way by every process,
so `GET /v1/responses/{id}?stream=true&starting_after=N` resumes it exactly anywhere.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from sse_starlette import EventSourceResponse

from agio.api.auth import allow
from agio.api.container import Container
from agio.api.deps import ContainerDep
from agio.api.openai_compat.errors import openai_error_responses
from agio.api.openai_compat.response_schemas import (
    RESPONSE_ID_PATTERN,
    InputMessage,
    ResponseCreate,
    ResponseObject,
)
from agio.api.openai_compat.responses import ResponseLog, response_id, run_id_of
from agio.api.openai_compat.starting import start_run
from agio.api.run_outcome import end_of
from agio.api.sse import SSE_HEADERS
from agio.domain.errors import Conflict, NotFound, RunNotFound, ValidationFailed
from agio.domain.events import Event
from agio.domain.messages import Message
from agio.domain.runs import Run
from agio.domain.security import Permission, Principal
from agio.runtime.state import RunState

router = APIRouter(
    prefix="/v1/responses",
    tags=["openai"],
    responses=openai_error_responses(401, 403, 404, 422, 429, 500),
)

Executor = Annotated[Principal, allow(Permission.EXECUTE_AGENT, group="chat")]
Reader = Annotated[Principal, allow(Permission.READ_RUN)]
Controller = Annotated[Principal, allow(Permission.EXECUTE_RUN)]
ResponseIdPath = Annotated[
    str, Path(pattern=RESPONSE_ID_PATTERN, description="The response's id (`resp_…`).")
]
PAGE = 500

STREAM_DOC = {
    "description": (
        "With `stream: true`: `text/event-stream`, one message per Responses event "
        "(`event:` its type, `data:` the event with its `sequence_number`). Otherwise "
        "the response."
    ),
    "content": {
        "text/event-stream": {"schema": {"type": "string"}},
        "application/json": {"schema": {"$ref": "#/components/schemas/ResponseObject"}},
    },
}


class ResponseNotFound(NotFound):
    type = "ResponseNotFound"

    def __init__(self, rid: str) -> None:
        super().__init__(f"Response '{rid}' not found")


async def _owned(container: Container, who: Principal, rid: str) -> Run:
    """The response's run, if the caller may see it and it was stored (`store`)."""
    try:
        run = await container.run_service.owned_run(who, run_id_of(rid))
    except RunNotFound:
        raise ResponseNotFound(rid) from None
    if (run.response_options or {}).get("store") is False:
        raise ResponseNotFound(rid)
    return run


async def _replayed(container: Container, run: Run) -> ResponseLog:
    """The run's whole stored log read into its `ResponseLog`."""
    log = ResponseLog(run)
    log.start()
    offset = 0
    while True:
        _, events = await container.run_service.events_page(run.id, offset=offset, limit=PAGE)
        for event in events:
            log.feed(event)
        offset += len(events)
        if len(events) < PAGE:
            return log


def _sse(item: dict[str, Any]) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (item["type"].encode(), orjson.dumps(item))


async def _stream(
    run: Run, events: AsyncGenerator[list[Event], None], starting_after: int
) -> AsyncIterator[bytes]:
    """The run's events from its first (`RunService.follow(run, 0)`) as the Responses
    stream, only those numbered after `starting_after`."""
    log = ResponseLog(run)
    first = b"".join(_sse(i) for i in log.start() if i["sequence_number"] > starting_after)
    if first:
        yield first
    async with aclosing(events):
        async for batch in events:
            out = [i for e in batch for i in log.feed(e) if i["sequence_number"] > starting_after]
            if out:
                yield b"".join(_sse(i) for i in out)
            if any(event.terminal for event in batch):
                return


def _respond_stream(
    container: Container, run: Run, starting_after: int, subscription: Any = None
) -> EventSourceResponse:
    events = container.run_service.follow(run.id, 0, subscription=subscription)
    return EventSourceResponse(
        _stream(run, events, starting_after),
        ping=container.settings.sse_ping_seconds,
        headers={**SSE_HEADERS, "X-Agio-Run-ID": run.id, "X-Agio-Session-ID": run.session_id},
    )


def _history(items: list[InputMessage]) -> tuple[list[Message], str]:
    last = items[-1]
    where = ["body", "input", len(items) - 1]
    if last.role != "user" or not last.text().strip():
        raise ValidationFailed(
            "The last input message must be the user's, with text: it is the agent's input",
            details=[{"loc": [*where, "role"], "msg": "must be 'user'", "type": "value_error"}],
        )
    history: list[Message] = []
    for item in items[:-1]:
        text = item.text()
        if not text:
            continue
        if item.role in ("system", "developer"):
            history.append(Message.system(text))
        elif item.role == "user":
            history.append(Message.user(text))
        else:
            history.append(Message.assistant(text))
    return history, last.text()


async def _conversation(container: Container, who: Principal, rid: str) -> list[Message]:
    """The conversation of a previous response: what its run's last checkpoint holds
    (earlier turns, its input, tool calls and results, its answer), system messages left
    out (its instructions were its own)."""
    run = await _owned(container, who, rid)
    if not run.status.terminal:
        raise Conflict(f"Response '{rid}' is still in progress")
    checkpoints = await container.run_service.list_checkpoints(run.id)
    if not checkpoints:
        return []
    state = RunState.from_json(checkpoints[-1].state)
    return [m for m in state.messages if m.role != "system"]


@router.post(
    "",
    response_model=ResponseObject,
    summary="Create a response (run an agent)",
    responses={200: STREAM_DOC, **openai_error_responses(409)},
)
async def create_response(body: ResponseCreate, container: ContainerDep, who: Executor) -> Any:
    if body.background and body.store is False:
        raise ValidationFailed(
            "A background response must be stored (store: true)",
            details=[{"loc": ["body", "store"], "msg": "must be true", "type": "value_error"}],
        )
    history: list[Message] = []
    if isinstance(body.input, str):
        message = body.input
    else:
        history, message = _history(body.input)
    if body.previous_response_id is not None:
        history = [
            *await _conversation(container, who, body.previous_response_id),
            *history,
        ]
    stream = bool(body.stream)
    options = {
        "instructions": body.instructions,
        "previous_response_id": body.previous_response_id,
        "background": bool(body.background),
        "store": body.store is not False,
        "metadata": body.metadata or {},
    }
    run, subscription = await start_run(
        container,
        who,
        body.model,
        message,
        session_id=None,
        history=history,
        instructions=body.instructions,
        stream=stream,
        options=options,
    )
    run.response_options = options
    if stream:
        return _respond_stream(container, run, -1, subscription)
    if body.background:
        return ResponseLog(run).current()
    await end_of(container.run_manager, container.run_service, run.id)
    done = await container.run_service.get_run(run.id)
    log = await _replayed(container, done or run)
    return log.current()


@router.get(
    "/{response_id}",
    response_model=ResponseObject,
    summary="Get a response, or resume its stream",
    responses={200: STREAM_DOC},
)
async def get_response(
    response_id: ResponseIdPath,
    container: ContainerDep,
    who: Reader,
    stream: Annotated[bool, Query(description="Stream its events (from the first).")] = False,
    starting_after: Annotated[
        int | None,
        Query(ge=-1, description="With `stream`: only the events after this sequence number."),
    ] = None,
    include: Annotated[list[str] | None, Query(description="Ignored.")] = None,
    include_obfuscation: Annotated[bool | None, Query(description="Ignored.")] = None,
) -> Any:
    run = await _owned(container, who, response_id)
    if stream:
        return _respond_stream(container, run, -1 if starting_after is None else starting_after)
    return (await _replayed(container, run)).current()


@router.post(
    "/{response_id}/cancel",
    response_model=ResponseObject,
    summary="Cancel a response (its run)",
    responses=openai_error_responses(409),
)
async def cancel_response(
    response_id: ResponseIdPath, container: ContainerDep, who: Controller
) -> Any:
    run = await _owned(container, who, response_id)
    await container.run_manager.cancel(run.id)
    done = await container.run_service.get_run(run.id) or run
    body = (await _replayed(container, done)).current()
    if body["status"] in ("queued", "in_progress"):
        body["status"] = "cancelled"  # asked of the run; its own event follows
    return body


__all__ = ["response_id", "router"]
