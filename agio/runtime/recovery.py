"""Leases and recovery: this process keeps the runs it executes alive in storage
(heartbeat), applies the durable pause/cancel flags other processes set for them, stops
the runs it lost (lease taken over, writes fenced or refused by the writer) and continues
(or fails) unfinished runs whose process stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog

from agio.bus.base import EventBus
from agio.domain import events as ev
from agio.domain.events import Event
from agio.domain.runs import Checkpoint
from agio.domain.time import utcnow
from agio.runtime.launching import Executions
from agio.runtime.options import RuntimeOptions
from agio.runtime.state import ChildRecord, RunState, ToolResult
from agio.storage.runs import RunRepository

log = structlog.get_logger(__name__)


#: an approval's events, and the list of the state that says each was emitted
_ANNOUNCED = {
    ev.APPROVAL_REQUESTED: "approvals_requested",
    ev.APPROVAL_RESOLVED: "approvals_resolved",
}


async def state_after(runs: RunRepository, run_id: str, checkpoint: Checkpoint) -> RunState:
    """The checkpoint's state plus what the event log recorded after it: tool calls
    that finished (never run twice) and text already streamed (not shown twice)."""
    state = RunState.from_json(checkpoint.state)
    events = await runs.events_after(run_id, checkpoint.seq, limit=100_000)
    next_step = state.step_num + 1
    anchor: int | None = None
    if state.step_open:  # a pause inside a step: the step began before the checkpoint
        anchor = checkpoint.seq
    else:
        started = [
            e.seq for e in events if e.type == ev.STEP_STARTED and e.data.get("step") == next_step
        ]
        if started:
            state.step_open = True
            anchor = started[-1]
    if anchor is not None and state.phase == "llm":
        streamed = state.partial_content or ""
        for e in events:
            if e.seq <= anchor:
                continue
            if e.type == ev.CONTENT_DELTA:
                streamed += e.data.get("content", "")
            elif e.type == ev.ERROR and e.data.get("error", {}).get("type") == ("StreamRestarted"):
                streamed = ""  # the client was told; the text streams again from here
        state.partial_content = streamed or None
    for record in _children_after(state, events):
        child = await runs.get_run(record.run_id)
        record.tokens = _tree_tokens(child.metrics or {}) if child is not None else 0
    if state.phase == "tools":
        pending = {c.id: c for c in state.pending_tool_calls}
        known = {r.call_id for r in state.completed_tool_results}
        for event in events:
            call_id = event.data.get("call_id")
            if event.type == ev.TOOL_CALL_COMPLETED and call_id in pending and call_id not in known:
                call = pending[call_id]
                state.completed_tool_results.append(
                    ToolResult(
                        call_id=call_id,
                        tool=call.name,
                        args=call.arguments,
                        result=event.data.get("result"),
                        error=event.data.get("error"),
                        duration=event.data.get("duration", 0.0),
                    )
                )
                known.add(call_id)
            # announced after the checkpoint: a continued run does not announce it again
            elif call_id in pending and event.type in _ANNOUNCED:
                announced = getattr(state, _ANNOUNCED[event.type])
                if call_id not in announced:
                    announced.append(call_id)
    return state


def _children_after(state: RunState, events: list[Event]) -> list[ChildRecord]:
    """What the log says of the child runs after the checkpoint: how far each was
    relayed (`child_event`), and how the ones that ended ended (not relayed again).
    Returns those that ended without their tokens in the log."""
    unread: list[ChildRecord] = []
    for event in events:
        if event.type != ev.CHILD_EVENT:
            continue
        data = event.data
        inner = data.get("event") or {}
        record = state.children.get(data.get("call_id", ""))
        if record is None:
            record = state.children[data.get("call_id", "")] = ChildRecord(
                run_id=data.get("run_id", ""), agent=data.get("agent", "")
            )
        record.relayed_seq = max(record.relayed_seq, int(inner.get("seq", 0)))
        ended = ev.ENDED_AS.get(inner.get("type", ""))
        if ended is not None:
            record.status = ended.value
            metrics = (inner.get("data") or {}).get("metrics")
            if metrics:
                record.tokens = _tree_tokens(metrics)
            else:  # a failed or cancelled child's terminal event has none: its row has
                unread.append(record)
    return unread


def _tree_tokens(metrics: dict[str, Any]) -> int:
    return int(metrics.get("tree_tokens", metrics.get("total_tokens", 0)) or 0)


class Leases:
    def __init__(
        self,
        runs: RunRepository,
        bus: EventBus,
        executions: Executions,
        options: RuntimeOptions,
    ) -> None:
        self.runs = runs
        self.bus = bus
        self.executions = executions
        self.options = options
        #: run with the heartbeat (every third of the lease), each on its own
        self.periodic: list[Callable[[], Awaitable[Any]]] = []
        #: called after each orphan search (the queues of free sessions: multitask.py)
        self.after_recover: list[Callable[[], Awaitable[object]]] = []

    async def maintain(self) -> None:
        """The maintenance task: control flags every `control_poll_seconds`; heartbeat,
        the orphan search and `after_recover` every third of the lease."""
        heartbeat_every = max(0.05, self.options.lease_seconds / 3)
        poll = max(0.02, min(self.options.control_poll_seconds, heartbeat_every))
        since_heartbeat = 0.0
        while True:
            await asyncio.sleep(poll)
            since_heartbeat += poll
            try:
                if self.executions.tasks:
                    await self._apply_controls()
                if since_heartbeat >= heartbeat_every:
                    since_heartbeat = 0.0
                    await self._heartbeat()
                    await self.recover()
                    for hook in self.after_recover:
                        await hook()
                    for job in self.periodic:
                        try:
                            await job()
                        except Exception as exc:
                            log.warning("run_maintenance_job_failed", error_type=type(exc).__name__)
            except Exception as exc:
                log.warning("run_maintenance_failed", error_type=type(exc).__name__)

    def stop_fenced(self, run_ids: set[str]) -> None:
        """The writer dropped writes for these runs: another process owns them now. Stop
        this process's copies at once, writing nothing more (`RunWriter.on_fenced`)."""
        for run_id in run_ids:
            task = self.executions.tasks.get(run_id)
            if task is not None and not task.done():
                log.warning("run_lease_lost", run_id=run_id, noticed_by="writer")
                task.cancel()

    def stop_failed(self, errors: dict[str, dict[str, Any]]) -> None:
        """The writer could not store these runs' writes and ended them `failed`
        (`RunWriter.on_write_failed`): stop them at once, with that outcome."""
        for run_id, error in errors.items():
            task = self.executions.tasks.get(run_id)
            if task is None or task.done():
                continue
            live = self.executions.live.get(run_id)
            if live is not None:
                live.storage_failed(error)
            else:
                self.executions.failed_early[run_id] = error
            task.cancel()

    async def _heartbeat(self) -> None:
        """Renew the leases; a run whose lease another process took over (this process was
        too slow to heartbeat) is stopped here at once, so that two never execute it."""
        tasks = self.executions.tasks
        mine = [r for r in tasks if r not in self.executions.starting]
        kept = await self.runs.heartbeat(self.executions.owner_id, mine)
        for run_id in set(mine) - kept:
            task = tasks.get(run_id)
            if task is not None:
                log.warning("run_lease_lost", run_id=run_id)
                task.cancel()

    async def _apply_controls(self) -> None:
        """Durable pause/cancel requests made through another process."""
        for run_id, control in (await self.runs.controls_for(self.executions.owner_id)).items():
            live = self.executions.live.get(run_id)
            if live is None or live.outcome is not None:
                continue
            if control == "pause":
                live.control.pause.set()
            elif control in ("cancel", "interrupt") and not live.control.cancel:
                live.control.cancel = True
                live.control.keep_partial = control == "interrupt"  # a new chat's (§12)
                task = self.executions.tasks.get(run_id)
                if task is not None:
                    task.cancel()

    async def recover(self) -> int:
        """Continue (or fail, as configured) unfinished runs whose process stopped.

        Returns how many were handled. A run recovered `max_recoveries` times already is
        failed with `RecoveryLimitExceeded` instead.
        """
        executions = self.executions
        stale_before = utcnow() - timedelta(seconds=self.options.lease_seconds)
        count = 0
        for run in await self.runs.orphaned_runs(stale_before):
            if run.id in executions.tasks or run.id in executions.starting:
                continue
            if self.options.recovery == "fail" or run.recovery_count >= self.options.max_recoveries:
                limit = run.recovery_count >= self.options.max_recoveries
                error = {
                    "type": "RecoveryLimitExceeded" if limit else "RunInterrupted",
                    "message": (
                        f"The run's process stopped {run.recovery_count + 1} times; "
                        "it is not recovered again"
                    )
                    if limit
                    else "The process running this run stopped before it finished",
                }
                run.last_seq = await self.runs.max_seq(run.id)
                event = Event(
                    run.id,
                    run.last_seq + 1,
                    ev.RUN_FAILED,
                    utcnow(),
                    {"run_id": run.id, "error": error},
                )
                if await self.runs.fail_orphan(run, event, error, stale_before):
                    count += 1
                    await self.bus.publish(run.id, [event])
                    log.warning("run_orphan_failed", run_id=run.id, reason=error["type"])
                    executions.ended(run.id, run.session_id)
                continue
            if not await self.runs.claim(
                run, executions.owner_id, recovery=True, stale_before=stale_before
            ):
                continue
            with executions.starting_here(run.id):
                checkpoint = await self.runs.latest_checkpoint(run.id)
                if checkpoint is None:
                    continue
                # a pause or cancel asked of the dead owner is applied now, not lost
                executions.steer_early(run.id, run.control)
                state = await state_after(self.runs, run.id, checkpoint)
                executions.writer.supersede_steps(run.id, checkpoint.step_num)
                await executions.continue_from(
                    run,
                    checkpoint,
                    {"checkpoint_id": checkpoint.id, "reason": "recovered"},
                    state=state,
                )
            count += 1
            log.warning(
                "run_recovered",
                run_id=run.id,
                checkpoint_id=checkpoint.id,
                recovery=run.recovery_count + 1,
            )
        return count
