"""Chat, run and event resources."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agio.domain.events import Event
from agio.domain.runs import Run, RunStatus, Step

ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(
        pattern=ID_PATTERN, description="The agent's id or name.", examples=["customer_support"]
    )
    message: str = Field(min_length=1, max_length=100_000, examples=["What is (2 + 3) * 4?"])
    user_id: str | None = Field(default=None, pattern=ID_PATTERN)
    session_id: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="Continue this conversation; a new session is made when absent.",
    )
    stream: bool = Field(default=True, description="Server-Sent Events when true.")


class RunMetricsOut(BaseModel):
    total_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_steps: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    duration: float = 0.0


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


class RunDetail(RunSummary):
    steps: list[StepOut]
    agent_config: dict[str, Any] = Field(
        description="The components the run started with (secrets masked)."
    )
    last_seq: int = Field(description="Sequence number of the run's latest stored event.")

    @classmethod
    def from_run(cls, run: Run) -> RunDetail:
        return cls(
            **_run_fields(run),
            steps=[StepOut.from_step(s) for s in run.steps],
            agent_config=run.agent_config,
            last_seq=run.last_seq,
        )


def _run_fields(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
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
    }


class EventOut(BaseModel):
    seq: int
    type: str
    timestamp: datetime
    data: dict[str, Any]

    @classmethod
    def from_event(cls, event: Event) -> EventOut:
        return cls(seq=event.seq, type=event.type, timestamp=event.timestamp, data=event.data)


class RunEvents(BaseModel):
    run_id: str
    total: int
    events: list[EventOut]
