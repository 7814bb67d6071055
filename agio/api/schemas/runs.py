"""Chat, run and event resources."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from agio.api.schemas.common import JSON_INT, JSON_NUMBER, max_length_from_setting
from agio.config.components import SLUG_PATTERN
from agio.domain.events import EVENT_TYPES, Event
from agio.domain.runs import Checkpoint, MultitaskStrategy, Run, RunStatus, Step

ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(
        pattern=ID_PATTERN, description="The agent's id or name.", examples=["customer_support"]
    )
    message: str = Field(
        min_length=1,
        examples=["What is (2 + 3) * 4?"],
        # at most AGIO_MAX_MESSAGE_CHARS characters: checked by the route, documented per app
        json_schema_extra=max_length_from_setting("max_message_chars"),
    )
    user_id: str | None = Field(default=None, pattern=ID_PATTERN)
    session_id: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="Continue this conversation; a new session is made when absent.",
    )
    stream: StrictBool = Field(default=True, description="Server-Sent Events when true.")
    # --- webhooks
    webhook: str | None = Field(
        default=None,
        min_length=8,
        max_length=2048,
        pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s]+$",
        description="A URL that gets this run's end (`run.completed`, `run.failed` or "
        "`run.cancelled`) as a webhook, signed with AGIO_WEBHOOK_SECRET when it is set; "
        "refused (422) for private, loopback and metadata addresses (docs/webhooks.md).",
    )
    multitask_strategy: MultitaskStrategy | None = Field(
        default=None,
        description="When `session_id` has a run in progress: `reject` (409 SessionBusy), "
        "`enqueue` (this run waits for the runs before it), `interrupt` (that run is "
        "cancelled, its partial answer kept in the session) or `rollback` (cancelled, "
        "nothing of it kept). Default: the server's AGIO_MULTITASK_STRATEGY (`reject`).",
    )


class RunMetricsOut(BaseModel):
    total_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_steps: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    duration: float = 0.0
    children_tokens: int = Field(
        default=0,
        description="Tokens of the runs this run started (agents as tools, workflow steps), "
        "theirs and their children's; `total_tokens` counts this run's own only.",
    )
    tree_tokens: int = Field(
        default=0, description="`total_tokens` plus `children_tokens`: the whole tree's."
    )


class RunError(BaseModel):
    type: str
    message: str


class ChatResponse(BaseModel):
    run_id: str
    session_id: str
    status: RunStatus
    response: str | None
    metrics: RunMetricsOut
    error: RunError | None = None


class RunSummary(BaseModel):
    id: str
    parent_run_id: str | None = Field(
        description="The run this one was restored or forked from, or (with "
        "`parent_call_id`) the run whose tool call or workflow step started it."
    )
    parent_call_id: str | None = Field(
        default=None,
        description="The parent's tool call (`ask_<agent>`) or workflow step call that "
        "started this run (SPEC §20); null for other runs.",
    )
    forked_from_checkpoint_id: str | None
    schedule_id: str | None = Field(description="The schedule whose firing started this run.")
    agent_id: str
    agent_name: str
    session_id: str
    user_id: str | None
    status: RunStatus
    input_query: str
    response_content: str | None
    error: RunError | None
    metrics: RunMetricsOut
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    queued: bool = Field(
        default=False,
        description="Pending behind its session's run in progress (multitask_strategy "
        "`enqueue`, `interrupt`, `rollback`): it starts when the session is free.",
    )

    @classmethod
    def from_run(cls, run: Run) -> RunSummary:
        return cls(**_run_fields(run))


class StepOut(BaseModel):
    step_num: int
    type: str = Field(description="`llm_call` or `tool_call`.")
    messages: list[dict[str, Any]]
    model_response: dict[str, Any] | None
    tool_calls: list[dict[str, Any]]
    metrics: dict[str, Any]
    started_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def from_step(cls, step: Step) -> StepOut:
        return cls(
            step_num=step.step_num,
            type=step.type,
            messages=step.messages,
            model_response=step.model_response,
            tool_calls=step.tool_calls,
            metrics=step.metrics,
            started_at=step.started_at,
            ended_at=step.ended_at,
        )


class ChildRunOut(BaseModel):
    """A run this run started (agents as tools, workflow steps: SPEC §20)."""

    id: str
    call_id: str = Field(description="The parent's call the child answers.")
    agent_id: str
    agent_name: str
    status: RunStatus
    metrics: RunMetricsOut
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def from_run(cls, run: Run) -> ChildRunOut:
        return cls(
            id=run.id,
            call_id=run.parent_call_id or "",
            agent_id=run.agent_id,
            agent_name=run.agent_name,
            status=run.status,
            metrics=RunMetricsOut.model_validate(run.metrics or {}),
            created_at=run.created_at,
            started_at=run.started_at,
            ended_at=run.ended_at,
        )


class RunDetail(RunSummary):
    children: list[ChildRunOut] = Field(
        default_factory=list,
        description="The runs this run started, oldest first (each has its own page).",
    )
    steps: list[StepOut]
    superseded_steps: list[StepOut] = Field(
        description="Steps replaced when the run was restored in place or recovered."
    )
    agent_config: dict[str, Any] = Field(
        description="The components the run started with (secrets masked)."
    )
    last_seq: int = Field(description="Sequence number of the run's latest stored event.")
    recovery_count: int = Field(description="How often the run was recovered after a crash.")

    @classmethod
    def from_run(cls, run: Run, children: list[Run] | None = None) -> RunDetail:
        return cls(
            **_run_fields(run),
            children=[ChildRunOut.from_run(c) for c in children or []],
            steps=[StepOut.from_step(s) for s in run.steps if not s.superseded],
            superseded_steps=[StepOut.from_step(s) for s in run.steps if s.superseded],
            agent_config=run.agent_config,
            last_seq=run.last_seq,
            recovery_count=run.recovery_count,
        )


def _run_fields(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "parent_run_id": run.parent_run_id,
        "parent_call_id": run.parent_call_id,
        "forked_from_checkpoint_id": run.forked_from_checkpoint_id,
        "schedule_id": run.schedule_id,
        "agent_id": run.agent_id,
        "agent_name": run.agent_name,
        "session_id": run.session_id,
        "user_id": run.user_id,
        "status": run.status,
        "input_query": run.input_query,
        "response_content": run.response_content,
        "error": run.error,
        "metrics": run.metrics or {},
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "queued": run.queued,
    }


class EventOut(BaseModel):
    seq: int
    type: str
    timestamp: datetime
    data: dict[str, Any]

    @classmethod
    def from_event(cls, event: Event) -> EventOut:
        return cls(seq=event.seq, type=event.type, timestamp=event.timestamp, data=event.data)


SSE_EVENT_SCHEMA: dict[str, Any] = {
    "title": "ServerSentEvent",
    "description": (
        "One SSE message per run event: `event:` its type, `id:` its sequence number, "
        "`data:` its data as JSON. The stream opens with a `retry:` hint; lines starting "
        "with `:` are keep-alive comments."
    ),
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": list(EVENT_TYPES)},
        "id": {"type": "string", "pattern": "^[1-9][0-9]*$"},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer", "minimum": 0},
    },
    "required": ["event", "id", "data"],
    "additionalProperties": False,
}
# the `content` entry of a response that streams run events (in OpenAPI 3.1, the
# `schema` of an event stream describes each of its messages)
EVENT_STREAM: dict[str, Any] = {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}


class RunEvents(BaseModel):
    run_id: str
    total: int
    events: list[EventOut]


class ControlResponse(BaseModel):
    run_id: str
    status: RunStatus
    message: str


class CheckpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=2000)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=32
    )


class CheckpointSummary(BaseModel):
    id: str
    step_num: int
    kind: str = Field(description="`start`, `step`, `pause`, `manual` or `restore`.")
    description: str
    tags: list[str]
    created_at: datetime
    message_count: int
    total_tokens: int

    @classmethod
    def from_checkpoint(cls, c: Checkpoint) -> CheckpointSummary:
        return cls(
            id=c.id,
            step_num=c.step_num,
            kind=c.kind,
            description=c.description,
            tags=c.tags,
            created_at=c.created_at,
            message_count=c.message_count,
            total_tokens=c.total_tokens,
        )


class CheckpointList(BaseModel):
    run_id: str
    total: int
    checkpoints: list[CheckpointSummary]


class CheckpointDetail(CheckpointSummary):
    run_id: str
    status: RunStatus = Field(description="The run's status when the checkpoint was taken.")
    messages: list[dict[str, Any]]
    pending_tool_calls: list[dict[str, Any]]
    completed_tool_results: list[dict[str, Any]]
    metrics: dict[str, Any]
    agent_config: dict[str, Any]
    seq: int = Field(description="Sequence number of the run's last event before it.")
    partial_content: str | None = Field(
        default=None,
        description="Taken in the middle of a model call (a pause): the text that call had "
        "streamed; a run continued from here does not stream it again.",
    )
    children: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="The runs this run had started (SPEC §20), by the call each answers: "
        "`run_id`, `agent`, `status`, `relayed_seq` (the child's last event relayed "
        "into this run's log), `tokens`.",
    )
    workflow: dict[str, Any] | None = Field(
        default=None,
        description="A workflow's run: its progress (`next` step, steps `executed`, the "
        "`previous` output, the step in progress).",
    )

    @classmethod
    def from_checkpoint(cls, c: Checkpoint) -> CheckpointDetail:
        state = c.state
        return cls(
            **CheckpointSummary.from_checkpoint(c).model_dump(),
            run_id=c.run_id,
            status=RunStatus(c.run_status),
            messages=state.get("messages", []),
            pending_tool_calls=state.get("pending_tool_calls", []),
            completed_tool_results=state.get("completed_tool_results", []),
            metrics=state.get("metrics", {}),
            agent_config=c.agent_config,
            seq=c.seq,
            partial_content=state.get("partial_content"),
            children=state.get("children") or {},
            workflow=state.get("workflow"),
        )


class ExtraMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant", "system"]
    content: str = Field(min_length=1, max_length=100_000)


class RestoreModifications(BaseModel):
    model_config = ConfigDict(extra="forbid")

    modified_query: str | None = Field(
        default=None,
        min_length=1,
        max_length=100_000,
        description="Asks this instead of the checkpoint's last user message: the "
        "conversation is rewound to that message, which is replaced (what answered the old "
        "question is dropped).",
    )


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    create_new_run: StrictBool = Field(
        default=True,
        description="true: a new run from the checkpoint; false: the same (paused) run "
        "continues from it, its later steps superseded.",
    )
    modifications: RestoreModifications = Field(default_factory=RestoreModifications)


class RestoreResponse(BaseModel):
    new_run_id: str
    message: str


class ForkModifications(RestoreModifications):
    system_prompt: str | None = Field(default=None, max_length=100_000)
    model: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Name of a model component."
    )
    temperature: Annotated[float, Field(ge=0, le=2), JSON_NUMBER] | None = None
    max_steps: Annotated[int, Field(ge=1, le=100), JSON_INT] | None = None
    messages: list[ExtraMessage] = Field(
        default_factory=list,
        max_length=100,
        description="Messages added after the checkpoint's conversation.",
    )
    agent_system_prompts: dict[
        Annotated[str, Field(pattern=SLUG_PATTERN)],
        Annotated[str, Field(max_length=100_000)],
    ] = Field(
        default_factory=dict,
        max_length=64,
        description="System prompts, by agent name, for the agents the new run starts as "
        "child runs from the checkpoint on (agents as tools, workflow steps: SPEC §20).",
    )


class ForkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=2000)
    modifications: ForkModifications = Field(default_factory=ForkModifications)


class ForkResponse(BaseModel):
    new_run_id: str
    checkpoint_id: str
    message: str
