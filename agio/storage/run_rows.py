"""Runs and steps as rows and back: what the run repositories and the writer share."""

from __future__ import annotations

from typing import Any

from agio.domain.runs import Run, RunStatus, Step
from agio.storage.tables import RunRow, RunStepRow


def to_run(row: RunRow) -> Run:
    return Run(
        id=row.id,
        agent_id=row.agent_id,
        agent_name=row.agent_name,
        session_id=row.session_id,
        user_id=row.user_id,
        status=RunStatus(row.status),
        input_query=row.input_query,
        response_content=row.response_content,
        error=row.error,
        metrics=row.metrics,
        agent_config=row.agent_config,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        last_seq=row.last_seq,
        parent_run_id=row.parent_run_id,
        parent_call_id=row.parent_call_id,
        forked_from_checkpoint_id=row.forked_from_checkpoint_id,
        recovery_count=row.recovery_count,
        control=row.control,
        owner_id=row.owner_id,
        schedule_id=row.schedule_id,
        queue_rank=row.queue_rank,
        response_options=row.response_options,
    )


def to_step(row: RunStepRow) -> Step:
    return Step(
        run_id=row.run_id,
        step_num=row.step_num,
        type=row.type,
        messages=row.messages,
        model_response=row.model_response,
        tool_calls=row.tool_calls,
        metrics=row.metrics,
        started_at=row.started_at,
        ended_at=row.ended_at,
        superseded=row.superseded,
    )


def new_run_rows(
    run: Run, *, new_session: bool, owner_id: str | None, holds_session: bool = False
) -> dict[str, Any]:
    """The rows that create a pending run (and its session when new): for `RunWriter`.
    With `holds_session`, the run takes its session's slot in this very insert (refused by
    the unique index if another run holds it: SPEC §12); a queued run (`run.queue_rank`)
    has neither the slot nor an owner yet."""
    return {
        "session": {
            "id": run.session_id,
            "agent_id": run.agent_id,
            "user_id": run.user_id,
            "created_at": run.created_at,
            "updated_at": run.created_at,
        }
        if new_session
        else None,
        "run": {
            "id": run.id,
            "agent_id": run.agent_id,
            "agent_name": run.agent_name,
            "session_id": run.session_id,
            "user_id": run.user_id,
            "status": run.status.value,
            "input_query": run.input_query,
            "response_content": None,
            "error": None,
            "metrics": run.metrics,
            "agent_config": run.agent_config,
            "model_name": run.agent_config.get("model", {}).get("name"),
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
            "tool_calls": 0,
            "duration": None,
            "last_seq": run.last_seq,
            "owner_id": owner_id,
            "heartbeat_at": run.created_at if owner_id is not None else None,
            "created_at": run.created_at,
            "started_at": None,
            "ended_at": None,
            "parent_run_id": run.parent_run_id,
            "parent_call_id": run.parent_call_id,
            "forked_from_checkpoint_id": run.forked_from_checkpoint_id,
            "recovery_count": 0,
            "control": None,
            "schedule_id": run.schedule_id,
            "session_slot": run.session_id if holds_session else None,
            "queue_rank": run.queue_rank,
        },
    }
