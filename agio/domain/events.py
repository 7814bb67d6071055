"""Run events: the taxonomy every run emits, in order, each with the run's next `seq`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from agio.domain.runs import RunStatus

RUN_STARTED: Final = "run_started"
STEP_STARTED: Final = "step_started"
CONTENT_DELTA: Final = "content_delta"
TOOL_CALL_STARTED: Final = "tool_call_started"
TOOL_CALL_COMPLETED: Final = "tool_call_completed"
STEP_COMPLETED: Final = "step_completed"
CHECKPOINT_CREATED: Final = "checkpoint_created"
RUN_PAUSED: Final = "run_paused"
RUN_RESUMED: Final = "run_resumed"
RUN_CANCELLED: Final = "run_cancelled"
RUN_COMPLETED: Final = "run_completed"
RUN_FAILED: Final = "run_failed"
ERROR: Final = "error"
#: a tool call waits for a person's decision; then the decision (SPEC §11)
APPROVAL_REQUESTED: Final = "approval_requested"
APPROVAL_RESOLVED: Final = "approval_resolved"
#: the model called a tool the client runs itself (an AG-UI front-end tool): the call is
#: handed back, and the run completes with it pending (`pending_tool_call_ids`, SPEC §18)
FRONTEND_TOOL_CALL: Final = "frontend_tool_call"
#: composition (SPEC §20): an event of a run this run started (`ask_<agent>`, a workflow
#: step), relayed into this run's own log (`run_id`, `call_id`, `agent`, `event`)
CHILD_EVENT: Final = "child_event"
#: a workflow's step began / ended (`step`: its number, `name`, `kind`; at the end its
#: `output` and, for a route, `route`)
WORKFLOW_STEP_STARTED: Final = "workflow_step_started"
WORKFLOW_STEP_COMPLETED: Final = "workflow_step_completed"

EVENT_TYPES: Final = (
    RUN_STARTED, STEP_STARTED, CONTENT_DELTA, TOOL_CALL_STARTED, TOOL_CALL_COMPLETED,
    STEP_COMPLETED, CHECKPOINT_CREATED, RUN_PAUSED, RUN_RESUMED, RUN_CANCELLED,
    RUN_COMPLETED, RUN_FAILED, ERROR, APPROVAL_REQUESTED, APPROVAL_RESOLVED,
    FRONTEND_TOOL_CALL, CHILD_EVENT, WORKFLOW_STEP_STARTED, WORKFLOW_STEP_COMPLETED,
)  # fmt: skip
#: the events that end a run, each with the status it ends in (`RunStatus.terminal`)
ENDED_AS: Final = {
    RUN_COMPLETED: RunStatus.COMPLETED,
    RUN_FAILED: RunStatus.FAILED,
    RUN_CANCELLED: RunStatus.CANCELLED,
}
TERMINAL_EVENTS: Final = frozenset(ENDED_AS)


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a run's event log; `seq` starts at 1 and grows by one."""

    run_id: str
    seq: int
    type: str
    timestamp: datetime
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS
