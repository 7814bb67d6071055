"""`/v1/models` and `/v1/chat/completions`: the OpenAI-compatible API (SPEC §17).

Every completion is an Agio run, started like `POST /api/chat` (the caller's quotas, the
message limit, the `chat` rate limit, the session rules) and named by `X-Agio-Run-ID`:
it can be paused, cancelled and inspected under `/api/runs` like any other. Errors have
OpenAI's shape (`agio.api.openai_compat.errors`). The Responses API is in
`agio.api.routers.openai_responses`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from agio.api.auth import allow
from agio.api.deps import ComponentsDep, ContainerDep
from agio.api.openai_compat.chat import chunks, completion, split_messages
from agio.api.openai_compat.errors import openai_error_responses
from agio.api.openai_compat.schemas import (
    MODEL_PATTERN,
    ChatCompletion,
    ChatCompletionRequest,
    ModelList,
    ModelOut,
)
from agio.api.openai_compat.starting import start_run
from agio.api.run_outcome import end_of
from agio.api.sse import SSE_HEADERS
from agio.domain.components import StoredComponent
from agio.domain.errors import AgioError
from agio.domain.runs import Run, RunStatus
from agio.domain.security import Permission, Principal

router = APIRouter(
    prefix="/v1",
    tags=["openai"],
    responses=openai_error_responses(401, 403, 422, 429, 500, 502),
)

Reader = Annotated[Principal, allow(Permission.READ_AGENT)]
Executor = Annotated[Principal, allow(Permission.EXECUTE_AGENT, group="chat")]
SessionHeader = Annotated[
    str | None,
    Header(
        alias="X-Agio-Session-ID",
        pattern=r"^[A-Za-z0-9_-]{1,128}$",
        description="Continue this Agio session: its stored history is used and the "
        "request's earlier messages are not.",
    ),
]

CHAT_DOC = {
    "description": (
        "With `stream: true`: `text/event-stream` of `data: {chat.completion.chunk}` "
        "messages ending with `data: [DONE]`. Otherwise the completion. Headers: "
        "`X-Agio-Run-ID` (the run), `X-Agio-Session-ID` (its session)."
    ),
    "content": {
        "text/event-stream": {"schema": {"type": "string"}},
        "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
    },
}


class RunDidNotComplete(AgioError):
    """A completion whose run failed or was cancelled (the SDK must not retry it: the
    run happened; `X-Agio-Run-ID` names it): a 502 when the agent's model failed (the
    server upstream), a 500 otherwise."""

    status_code = 500

    def __init__(self, type_: str, message: str, run: Run) -> None:
        if type_.startswith("Model"):  # ModelError, ModelUnavailable, ModelAuthError, …
            self.status_code = 502  # type: ignore[misc]
        super().__init__(
            message,
            headers={
                "X-Agio-Run-ID": run.id,
                "X-Agio-Session-ID": run.session_id,
                "x-should-retry": "false",
            },
        )
        self.type = type_  # type: ignore[misc]


def _model(stored: StoredComponent) -> ModelOut:
    return ModelOut(id=stored.name, created=int(stored.created_at.timestamp()))


@router.get(
    "/models", response_model=ModelList, summary="List the agents (and workflows) as models"
)
async def list_models(_: Reader, components: ComponentsDep) -> ModelList:
    agents = await components.list_components("agent")
    workflows = await components.list_components("workflow")  # run like agents (SPEC §20)
    return ModelList(data=[_model(s) for s in [*agents.items, *workflows.items] if s.enabled])


@router.get(
    "/models/{model}",
    response_model=ModelOut,
    summary="Get an agent (or a workflow) as a model",
    responses=openai_error_responses(404),
)
async def get_model(
    model: Annotated[str, Path(pattern=MODEL_PATTERN, description="The agent's name.")],
    _: Reader,
    components: ComponentsDep,
) -> ModelOut:
    return _model(await components.get_runnable(model))


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    summary="Chat with an agent (OpenAI Chat Completions)",
    responses={200: CHAT_DOC, **openai_error_responses(404, 409)},
)
async def chat_completions(
    body: ChatCompletionRequest,
    container: ContainerDep,
    who: Executor,
    session_id: SessionHeader = None,
) -> Any:
    history, message = split_messages(body.messages)
    stream = bool(body.stream)
    run, subscription = await start_run(
        container,
        who,
        body.model,
        message,
        session_id=session_id,
        history=None if session_id is not None else history,
        stream=stream,
    )
    headers = {"X-Agio-Run-ID": run.id, "X-Agio-Session-ID": run.session_id}
    if stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = container.run_service.follow(run.id, 0, subscription=subscription)
        return EventSourceResponse(
            chunks(run, events, include_usage=include_usage),
            ping=container.settings.sse_ping_seconds,
            headers={**SSE_HEADERS, **headers},
        )
    outcome = await end_of(container.run_manager, container.run_service, run.id)
    if outcome.status is not RunStatus.COMPLETED:
        error = outcome.error or {}
        raise RunDidNotComplete(
            str(error.get("type") or f"Run{outcome.status.value.title().replace('_', '')}"),
            str(error.get("message") or f"The run {run.id} ended {outcome.status.value}"),
            run,
        )
    answer = completion(run, outcome.response, outcome.metrics)
    return JSONResponse(answer.model_dump(mode="json"), headers=headers)
