"""How a request that started a run (or replays one) waits for its ending: the outcome
of the run's task if it executes here, else its log followed to its terminal event (it
executes in another process, or is queued) and its row read."""

from __future__ import annotations

from contextlib import aclosing

from agio.domain.errors import RunNotFound
from agio.runtime.loop import RunOutcome
from agio.runtime.manager import RunManager
from agio.runtime.run_service import RunService


async def outcome_of(manager: RunManager, runs: RunService, run_id: str) -> RunOutcome:
    """The run's outcome once it has stopped (ended, or paused / waiting when it executes
    here: what its task returned)."""
    outcome = await manager.wait(run_id)
    if outcome is not None:
        return outcome
    return await _ended_in_log(runs, run_id)


async def _ended_in_log(runs: RunService, run_id: str) -> RunOutcome:
    """The run's outcome from its row, once its log has its terminal event."""
    run = await runs.get_run(run_id)
    if run is not None and not run.status.terminal:
        async with aclosing(runs.follow(run_id, run.last_seq)) as events:
            async for batch in events:  # batches of events, up to the terminal one
                if any(event.terminal for event in batch):
                    break
        run = await runs.get_run(run_id)
    if run is None:
        raise RunNotFound(run_id)
    return RunOutcome(run.status, run.response_content, run.metrics, run.error)


async def end_of(manager: RunManager, runs: RunService, run_id: str) -> RunOutcome:
    """The run's outcome once it has ended: a pause, or a wait for approvals, is waited
    out (the run's log followed until its terminal event)."""
    outcome = await outcome_of(manager, runs, run_id)
    if outcome.status.terminal:
        return outcome
    return await _ended_in_log(runs, run_id)
