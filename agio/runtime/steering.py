"""How the outside steers a running run: the flags `AgentRun` checks at its safe points,
and the exception that stops it there for a pause; and `RunParts`, what the parts of a
run (its model step, its tool step) may use of it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry import trace

from agio.domain.events import Event
from agio.domain.messages import ToolCall
from agio.domain.runs import RunMetrics
from agio.runtime.approval_gate import ApprovalGate
from agio.runtime.sink import RunSink
from agio.runtime.snapshot import AgentSnapshot
from agio.runtime.state import RunState
from agio.tools.base import Tool


class PauseRequested(Exception):
    """Raised at a safe point when a pause was asked for."""


class ApprovalNeeded(Exception):
    """Raised by a round of tool calls that has calls waiting for a decision (once the
    others have run): the run waits, holding no process."""


class ChildPaused(Exception):
    """A call answered by a child run stopped because its run is pausing: the child is
    paused too, and the call is taken up again (the child resumed) when the run resumes."""


class ChildCaller(Protocol):
    """Answers calls of `ask_<agent>` with child runs (`agio.runtime.children`)."""

    async def ask(self, run: Any, call: ToolCall, agent: str) -> tuple[Any, str | None]:
        """(result, error) of the call: the child's final answer, or why there is none.
        Raises `ChildPaused` when `run` is pausing (the child paused first)."""
        ...


@dataclass
class Control:
    """How the outside steers a running run (set by the RunManager)."""

    pause: asyncio.Event = field(default_factory=asyncio.Event)
    cancel: bool = False
    #: with `cancel`: the run was interrupted by a new chat on its session (SPEC §12), and
    #: what it had (the user's message, its partial answer) joins the session's history
    keep_partial: bool = False
    checkpoint_waiters: list[asyncio.Future[str]] = field(default_factory=list)


class RunParts:
    """What `AgentRun` provides to the mixins that make up a run (`ModelStep`,
    `ToolStep`): its state, its configuration and where it writes."""

    run_id: str
    session_id: str
    user_id: str | None
    state: RunState
    snapshot: AgentSnapshot
    tools: dict[str, Tool]
    writer: RunSink
    metrics: RunMetrics
    control: Control
    tracer: trace.Tracer
    log: Any
    #: asks for and reads decisions on tool calls that need one (None: no approvals)
    approval_gate: ApprovalGate | None
    #: answers calls of `ask_<agent>` with child runs (None: no composition here)
    children: ChildCaller | None
    #: the run's next event, numbered and handed to the writer (`AgentRun.emit`)
    emit: Callable[[str, dict[str, Any]], Event]
    #: a checkpoint of the run's state of this kind (and description); its id
    #: (`AgentRun.checkpoint`)
    checkpoint: Callable[..., str]
