"""Pause, resume and cancel, by the state machine (`TRANSITIONS` in `agio.domain.runs`):
a run executing here is steered through its `Control`; a run nobody executes (paused,
orphaned, pending without an owner) changes state with a conditional update plus its
event; a run executing in another process gets a durable flag that its owner polls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from agio.bus.base import EventBus
from agio.domain import events as ev
from agio.domain.errors import Conflict, InvalidStateTransition
from agio.domain.events import Event
from agio.domain.runs import ACTIONS, Run, RunStatus, can_transition
from agio.domain.time import utcnow
from agio.runtime.interrupted import kept_messages, session_rows
from agio.runtime.launching import Executions
from agio.runtime.options import RuntimeOptions
from agio.runtime.recovery import state_after
from agio.storage.runs import RunRepository


def illegal(run: Run, action: str) -> InvalidStateTransition:
    return InvalidStateTransition(f"Cannot {action} run '{run.id}': it is {run.status.value}")


class RunClaimed(Conflict):
    """A run read as executed by nobody was claimed in between (resumed, or continued
    once its approvals were decided): it is steered as a running run now."""


async def _again(attempt: Callable[[], Awaitable[RunStatus]], times: int = 3) -> RunStatus:
    """A pause or cancel, started over when the run it read was claimed meanwhile."""
    for _ in range(times - 1):
        with contextlib.suppress(RunClaimed):
            return await attempt()
    return await attempt()


class RunControl:
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

    async def pause(self, run_id: str) -> RunStatus:
        return await _again(lambda: self._pause(run_id))

    async def cancel(self, run_id: str, *, keep_partial: bool = False) -> RunStatus:
        """With `keep_partial` (a new chat interrupted the run: SPEC §12), the user's
        message and what the run had answered join its session's history. A run that
        was continued between being read and being cancelled (its approvals decided
        meanwhile, say) is cancelled as the running run it became."""
        try:
            status = await _again(lambda: self._cancel(run_id, keep_partial))
        except InvalidStateTransition:
            await self.cancel_children(run_id)  # it ended: its children stop all the same
            raise
        await self.cancel_children(run_id)
        return status

    async def cancel_children(self, run_id: str, keep: frozenset[str] = frozenset()) -> None:
        """A run's unfinished child runs (SPEC §20), but those in `keep`, are cancelled
        (theirs in turn): a child nobody waits for any more stops."""
        for child in await self.runs.child_runs(run_id):
            if child.status.terminal or child.id in keep:
                continue
            with contextlib.suppress(InvalidStateTransition, Conflict):
                await self.cancel(child.id)

    async def _pause(self, run_id: str) -> RunStatus:
        executions = self.executions
        run = await executions.get_run(run_id)
        if not can_transition(run.status, RunStatus.PAUSED):
            raise illegal(run, "pause")
        live = executions.live.get(run_id)
        if live is not None or run_id in executions.tasks:
            if live is None:  # still setting up: it pauses at its first safe point
                executions.pause_early.add(run_id)
            else:
                live.control.pause.set()
            outcome = await executions.wait_local(run_id)
            status = outcome.status if outcome else (await executions.get_run(run_id)).status
            if status is RunStatus.WAITING_APPROVAL:  # it stopped to wait first: pause that
                run = await executions.get_run(run_id)
                status = await self.transition_idle(run, RunStatus.PAUSED, ev.RUN_PAUSED)
        elif run.queued:  # it holds nothing to pause; it may be cancelled
            raise InvalidStateTransition(
                f"Cannot pause run '{run_id}': it is queued behind its session's run in "
                "progress (cancel it instead)"
            )
        elif (
            run.status is RunStatus.PENDING and run.owner_id is None
        ) or run.status is RunStatus.WAITING_APPROVAL:
            status = await self.transition_idle(run, RunStatus.PAUSED, ev.RUN_PAUSED)
        else:  # executing in another process: the durable flag reaches it
            await self.runs.set_control(run_id, "pause")
            reached = await self._wait_status(
                run_id, {RunStatus.PAUSED, RunStatus.WAITING_APPROVAL}
            )
            status = reached.status
            if status is RunStatus.WAITING_APPROVAL and reached.owner_id is None:
                # it stopped to wait before it saw the flag (the hand-back clears it)
                status = await self.transition_idle(reached, RunStatus.PAUSED, ev.RUN_PAUSED)
        if status.terminal:
            raise InvalidStateTransition(
                f"Cannot pause run '{run_id}': it became {status.value} before a safe point"
            )
        return status

    async def _cancel(self, run_id: str, keep_partial: bool) -> RunStatus:
        executions = self.executions
        run = await executions.get_run(run_id)
        if not can_transition(run.status, RunStatus.CANCELLED):
            raise illegal(run, "cancel")
        task = executions.tasks.get(run_id)
        if task is not None:
            live = executions.live.get(run_id)
            if live is not None and live.outcome is not None:
                if live.outcome.status not in (RunStatus.PAUSED, RunStatus.WAITING_APPROVAL):
                    raise InvalidStateTransition(
                        f"Cannot cancel run '{run_id}': it is {live.outcome.status.value}"
                    )
                # it is pausing (or stopping to wait): cancel the run it hands back
                await executions.wait_local(run_id)
                return await self._cancel_idle(await executions.get_run(run_id), keep_partial)
            if live is not None:
                live.control.cancel = True
                live.control.keep_partial = keep_partial
            else:
                executions.cancel_early.add(run_id)
                if keep_partial:
                    executions.keep_partial.add(run_id)
            task.cancel()
            outcome = await executions.wait_local(run_id)
            executions.cancel_early.discard(run_id)
            return outcome.status if outcome else (await executions.get_run(run_id)).status
        if run.status in (RunStatus.PAUSED, RunStatus.WAITING_APPROVAL) or run.owner_id is None:
            return await self._cancel_idle(run, keep_partial)
        await self.runs.set_control(run_id, "interrupt" if keep_partial else "cancel")
        reached = await self._wait_status(
            run_id, {RunStatus.CANCELLED, RunStatus.PAUSED, RunStatus.WAITING_APPROVAL}
        )
        if reached.status in (RunStatus.PAUSED, RunStatus.WAITING_APPROVAL) and (
            reached.owner_id is None
        ):
            # it handed itself back (paused, or to wait for approvals) before it saw the
            # flag, which the hand-back clears: cancel the run it handed back
            return await self._cancel_idle(reached, keep_partial)
        return reached.status

    async def resume(self, run_id: str) -> RunStatus:
        executions = self.executions
        run = await executions.get_run(run_id)
        if run.status is not RunStatus.PAUSED:
            raise illegal(run, "resume")
        checkpoint = await self.runs.latest_checkpoint(run_id)
        if checkpoint is None:
            raise Conflict(f"Run '{run_id}' has no checkpoint to resume from")
        with executions.starting_here(run_id):
            if not await self.runs.claim(run, executions.owner_id, recovery=False):
                raise InvalidStateTransition(
                    f"Run '{run_id}' was resumed or changed by another request"
                )
            executions.steer_early(run_id, run.control, pause=False)  # a cancel still stands
            await executions.continue_from(run, checkpoint, {"checkpoint_id": checkpoint.id})
        return RunStatus.RUNNING

    async def _wait_status(self, run_id: str, wanted: set[RunStatus]) -> Run:
        """Poll storage until the run reaches one of `wanted` or a terminal state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.control_wait_seconds
        while True:
            run = await self.executions.get_run(run_id)
            if run.status in wanted or run.status.terminal or loop.time() > deadline:
                return run
            await asyncio.sleep(0.05)

    async def _cancel_idle(self, run: Run, keep_partial: bool = False) -> RunStatus:
        """Cancel a run nobody executes; like any cancelled run, it keeps what it had
        streamed as its `response_content` (from its latest checkpoint and the log)."""
        return await self.transition_idle(
            run,
            RunStatus.CANCELLED,
            ev.RUN_CANCELLED,
            ended_at=utcnow(),
            with_response=True,
            keep_in_session=keep_partial,
        )

    async def transition_idle(
        self,
        run: Run,
        target: RunStatus,
        event_type: str,
        *,
        with_response: bool = False,
        keep_in_session: bool = False,
        **values: Any,
    ) -> RunStatus:
        """A state change of a run that no process executes, with its event; with
        `with_response`, its `response_content` becomes what it had streamed (read at the
        same point of its log that the change is conditional on); with `keep_in_session`,
        what it had joins its session's history in the same transaction."""
        for _ in range(5):
            seq = await self.runs.max_seq(run.id)
            run.last_seq = seq
            rows: list[Any] = []
            if with_response or keep_in_session:
                checkpoint = await self.runs.latest_checkpoint(run.id)
                state = (
                    None if checkpoint is None else await state_after(self.runs, run.id, checkpoint)
                )
                if with_response:
                    values["response_content"] = None if state is None else state.response_so_far()
                if keep_in_session and state is not None:
                    rows = session_rows(run.session_id, run.id, kept_messages(state))
            event = Event(run.id, seq + 1, event_type, utcnow(), {"run_id": run.id})
            if await self.runs.transition(run, target, event, session_messages=rows, **values):
                await self.bus.publish(run.id, [event])
                if target.terminal:
                    self.executions.ended(run.id, run.session_id)
                return target
            run = await self.executions.get_run(run.id)
            if not can_transition(run.status, target):
                raise illegal(run, ACTIONS[target])
            if run.owner_id is not None:
                raise RunClaimed(f"Run '{run.id}' was continued meanwhile; retry")
        raise Conflict(f"Run '{run.id}' keeps changing; retry")
