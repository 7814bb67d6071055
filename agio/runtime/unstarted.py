"""How a run ends whose task stopped before its `AgentRun` existed: its set-up failed
(`RunSetupFailed`), or it was cancelled while being set up (say, resumed and cancelled
at once)."""

from __future__ import annotations

import asyncio

from agio.domain import events as ev
from agio.domain.events import Event
from agio.domain.runs import RunStatus
from agio.domain.time import utcnow
from agio.runtime.interrupted import kept_messages, session_rows
from agio.runtime.launch import Launch
from agio.runtime.loop import RunOutcome
from agio.storage.runs import RunRepository
from agio.storage.writer import RunWriter


async def fail_unstarted(writer: RunWriter, launch: Launch, exc: Exception) -> RunOutcome:
    run_id = launch.run_id
    error = {"type": "RunSetupFailed", "message": f"{type(exc).__name__}: {exc}"}
    now = utcnow()
    writer.update_run(
        run_id, status=RunStatus.FAILED.value, error=error, ended_at=now, owner_id=None
    )
    writer.append(
        Event(run_id, launch.last_seq + 1, ev.RUN_FAILED, now, {"run_id": run_id, "error": error})
    )
    await writer.flush()
    return RunOutcome(RunStatus.FAILED, None, {}, error)


async def cancel_unstarted(
    writer: RunWriter, runs: RunRepository, launch: Launch, *, keep_partial: bool
) -> RunOutcome:
    """It keeps what it had streamed before, like any cancelled run (and, interrupted by a
    new chat, `keep_partial`, leaves it in its session's history)."""
    run_id, state = launch.run_id, launch.state
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    seq = await runs.max_seq(run_id)
    response = state.response_so_far()
    writer.update_run(
        run_id,
        status=RunStatus.CANCELLED.value,
        ended_at=utcnow(),
        owner_id=None,
        control=None,
        response_content=response,
    )
    if keep_partial:
        writer.add_session_messages(session_rows(launch.session_id, run_id, kept_messages(state)))
    writer.append(Event(run_id, seq + 1, ev.RUN_CANCELLED, utcnow(), {"run_id": run_id}))
    await writer.flush()
    return RunOutcome(RunStatus.CANCELLED, response, {})
