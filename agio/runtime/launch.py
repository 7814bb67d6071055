"""What a run is launched as: a new run (`new_run`, not stored yet) and a `Launch`, the
run about to execute in this process with the state it executes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agio.domain.ids import new_id
from agio.domain.runs import Run, RunStatus
from agio.domain.time import utcnow
from agio.runtime.snapshot import AgentSnapshot
from agio.runtime.state import RunState


@dataclass(frozen=True)
class Launch:
    """A run about to execute in this process, and the state it executes from."""

    run_id: str
    session_id: str
    user_id: str | None
    snapshot: AgentSnapshot
    state: RunState
    #: the `seq` of its last stored event
    last_seq: int = 0
    #: the `run_resumed` data when it continues a run that had started; None when it starts
    resumed: dict[str, Any] | None = None
    #: its row is known to be stored (false for a new session's run, whose task starts
    #: while its creation commits: its first tool call waits for that)
    stored: bool = True


def new_run(
    agent_id: str,
    agent_name: str,
    session_id: str,
    user_id: str | None,
    query: str,
    snapshot: AgentSnapshot,
    *,
    parent_run_id: str | None = None,
    checkpoint_id: str | None = None,
    schedule_id: str | None = None,
) -> Run:
    """A pending run (not stored yet); `schedule_id`: the schedule that fired it."""
    return Run(
        id=new_id("run"),
        agent_id=agent_id,
        agent_name=agent_name,
        session_id=session_id,
        user_id=user_id,
        status=RunStatus.PENDING,
        input_query=query,
        response_content=None,
        error=None,
        metrics={},
        agent_config=snapshot.to_json(),
        created_at=utcnow(),
        started_at=None,
        ended_at=None,
        last_seq=0,
        parent_run_id=parent_run_id,
        forked_from_checkpoint_id=checkpoint_id,
        schedule_id=schedule_id,
    )
