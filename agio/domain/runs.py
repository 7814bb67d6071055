"""Runs, steps and their metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, Final


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    #: a tool call waits for a person's decision (SPEC §11); no process executes the run
    WAITING_APPROVAL = "waiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


#: The statuses of a run that has ended (nothing changes it any more), in declaration
#: order: the one list of them, for the code (storage's SQL included) that needs a set.
TERMINAL_STATUSES: Final = tuple(status for status in RunStatus if status.terminal)
#: The statuses of a run that has not ended, in declaration order.
UNFINISHED_STATUSES: Final = tuple(status for status in RunStatus if not status.terminal)
#: The runs that a process executes (or is about to) and that count against a quota.
ACTIVE_STATUSES: Final = (RunStatus.PENDING, RunStatus.RUNNING)
#: A session's run "in progress" (SPEC §12) is in one of these: every status of a run that
#: has not ended, derived from `terminal`, so that a new unfinished status (waiting for an
#: approval, say) keeps its session busy without anyone listing it here. Such a run holds
#: its session (`runs.session_slot`) from its creation to the write that ends it; a queued
#: run (`Run.queue_rank`) is pending too but does not hold it yet.
IN_PROGRESS_STATUSES: Final = UNFINISHED_STATUSES


class MultitaskStrategy(StrEnum):
    """What `POST /api/chat` does with a session that already has a run in progress."""

    REJECT = "reject"  # 409 SessionBusy
    ENQUEUE = "enqueue"  # the new run waits for the earlier ones, in order of arrival
    INTERRUPT = "interrupt"  # cancel the run in progress, keep its partial answer
    ROLLBACK = "rollback"  # cancel the run in progress, keep nothing of it in the history


class QueueRank(IntEnum):
    """Where a queued run waits: the next run of a session is its queued run of the
    lowest rank, the oldest first (`created_at`, then `id`)."""

    #: a run that interrupted (or rolled back) the one in progress: it starts when that
    #: one has stopped, before the runs that were already queued
    NEXT = 0
    #: an enqueued run: after every run queued before it
    LAST = 1


# The one table of legal run state changes. Terminal states have none.
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset(
        {RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.CANCELLED, RunStatus.FAILED}
    ),
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.PAUSED,
            RunStatus.WAITING_APPROVAL,
            RunStatus.COMPLETED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
        }
    ),
    RunStatus.PAUSED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}),
    # decided (or expired): it runs again; or paused, cancelled, failed while it waits
    RunStatus.WAITING_APPROVAL: frozenset(
        {RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.CANCELLED, RunStatus.FAILED}
    ),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}


def can_transition(current: RunStatus, target: RunStatus) -> bool:
    return target in TRANSITIONS[current]


#: the control request that moves a run into a state, as a verb for messages
ACTIONS: dict[RunStatus, str] = {
    RunStatus.RUNNING: "resume",
    RunStatus.PAUSED: "pause",
    RunStatus.CANCELLED: "cancel",
    RunStatus.FAILED: "fail",
    RunStatus.COMPLETED: "complete",
    RunStatus.PENDING: "start",
    RunStatus.WAITING_APPROVAL: "wait for an approval",
}


@dataclass
class RunMetrics:
    """Accounting of one run (or one step): tokens, steps, tool calls, seconds."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_steps: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    duration: float = 0.0
    #: composition (SPEC §20): the tokens of the runs this run started (their own and
    #: their children's), beside this run's own `total_tokens`
    children_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_tokens": self.total_tokens,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_steps": self.total_steps,
            "tool_calls": self.tool_calls,
            "tool_errors": self.tool_errors,
            "duration": round(self.duration, 6),
            "children_tokens": self.children_tokens,
            "tree_tokens": self.total_tokens + self.children_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunMetrics:
        return cls(
            prompt_tokens=int(data.get("prompt_tokens", 0)),
            completion_tokens=int(data.get("completion_tokens", 0)),
            total_steps=int(data.get("total_steps", 0)),
            tool_calls=int(data.get("tool_calls", 0)),
            tool_errors=int(data.get("tool_errors", 0)),
            duration=float(data.get("duration", 0.0)),
            children_tokens=int(data.get("children_tokens", 0)),
        )


@dataclass
class Step:
    """One step of a run: a model call (`llm_call`) or a round of tool calls (`tool_call`)."""

    run_id: str
    step_num: int
    type: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    model_response: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    superseded: bool = False


@dataclass
class Checkpoint:
    """A run's state at a step boundary (or a pause), enough to continue exactly from there.

    `state` is plain JSON (see `agio.runtime.state.RunState`); nothing is ever pickled.
    """

    id: str
    run_id: str
    step_num: int
    kind: str  # start | step | pause | manual
    description: str
    tags: list[str]
    state: dict[str, Any]
    agent_config: dict[str, Any]
    seq: int  # the run's last event when it was taken
    run_status: str
    message_count: int
    total_tokens: int
    created_at: datetime


@dataclass
class Run:
    id: str
    agent_id: str
    agent_name: str
    session_id: str
    user_id: str | None
    status: RunStatus
    input_query: str
    response_content: str | None
    error: dict[str, Any] | None
    metrics: dict[str, Any]
    agent_config: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    last_seq: int
    steps: list[Step] = field(default_factory=list)
    parent_run_id: str | None = None
    #: composition (SPEC §20): the parent's tool call (`ask_<agent>`) or workflow step
    #: that started this run; None for a fork or restore, which set `parent_run_id` alone
    parent_call_id: str | None = None
    forked_from_checkpoint_id: str | None = None
    recovery_count: int = 0
    control: str | None = None
    owner_id: str | None = None
    #: the schedule whose firing started it (SPEC §15)
    schedule_id: str | None = None
    #: a queued run (not started, not holding its session yet): its `QueueRank`; None for
    #: every other run
    queue_rank: int | None = None
    #: a run started by `POST /v1/responses`: that request's options (`instructions`,
    #: `previous_response_id`, `background`, `store`); None for every other run
    response_options: dict[str, Any] | None = None

    @property
    def queued(self) -> bool:
        return self.queue_rank is not None


@dataclass
class Session:
    id: str
    agent_id: str
    user_id: str | None
    created_at: datetime
    updated_at: datetime
