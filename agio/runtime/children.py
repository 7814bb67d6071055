"""Child runs (SPEC §20): a call of `ask_<agent>` (or a workflow step) is answered by a run
of that agent, started by the calling run, its parent.

- **Once.** The child's id is derived from the parent's run id and the call's id
  (`derived_id`): a parent that resumes, or is recovered after a crash, finds the child
  it started (stored before the call goes on) and follows it; it never starts another.
- **Relayed.** The parent follows the child's event log (`follow`: the log, then the
  bus) and emits each event into its own log as `child_event` (`run_id`, `call_id`,
  `agent`, `event`), numbered by the parent like any event of its own: the parent's log
  stays gapless and durable, and its stream carries the tree. How far it relayed is in
  the parent's state (`ChildRecord.relayed_seq`, in every checkpoint, and recovered from
  the log after a crash), so nothing is relayed twice.
- **Steered.** A pause of the parent pauses the child (at its own safe point) before the
  parent pauses; the parent's resume resumes it. A cancel of the parent cancels its
  unfinished children (`RunControl.cancel`). A crash leaves both to the orphan search.
- **Bounded.** A child is `depth + 1` of its parent (a chat's run is 0); one deeper
  than `AGIO_MAX_RUN_DEPTH`, or of an agent already in its lineage, is refused as a tool
  error.
- **Accounted.** A child's tokens (its children's included) join the parent's
  `children_tokens` as it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog

from agio.bus.base import EventBus
from agio.domain import events as ev
from agio.domain.errors import (
    Conflict,
    InvalidStateTransition,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from agio.domain.events import Event
from agio.domain.ids import derived_id, new_id
from agio.domain.messages import ToolCall
from agio.domain.runs import Run, RunStatus
from agio.domain.time import iso_z
from agio.runtime.follow import follow
from agio.runtime.launch import new_run
from agio.runtime.launching import Executions
from agio.runtime.options import RuntimeOptions
from agio.runtime.state import ChildRecord
from agio.runtime.steering import ChildPaused
from agio.storage.runs import RunRepository

if TYPE_CHECKING:
    from agio.runtime.control import RunControl
    from agio.runtime.loop import AgentRun

log = structlog.get_logger(__name__)


def child_run_id(parent_run_id: str, call_id: str, salt: str = "") -> str:
    """The id of the run that answers `call_id` of `parent_run_id` (`salt`: the parent's
    `RunState.child_salt`): always the same."""
    return derived_id("run", parent_run_id, salt, call_id)


def relayed(child_id: str, call_id: str, agent: str, event: Event) -> dict[str, Any]:
    """The data of the `child_event` that relays `event` of a child."""
    return {
        "run_id": child_id,
        "call_id": call_id,
        "agent": agent,
        "event": {
            "seq": event.seq,
            "type": event.type,
            "timestamp": iso_z(event.timestamp),
            "data": event.data,
        },
    }


def tree_tokens(run: Run) -> int:
    metrics = run.metrics or {}
    return int(metrics.get("tree_tokens", metrics.get("total_tokens", 0)) or 0)


class ChildRuns:
    """The runtime's `ChildCaller`: starts, follows, pauses and resumes child runs."""

    def __init__(
        self,
        runs: RunRepository,
        bus: EventBus,
        executions: Executions,
        control: RunControl,
        options: RuntimeOptions,
    ) -> None:
        self.runs = runs
        self.bus = bus
        self.executions = executions
        self.control = control
        self.options = options
        #: runs that asked children here: when one ends (failed, say, with a child still
        #: running in a parallel step), its unfinished children are cancelled
        self._parents: set[str] = set()
        #: the user's quota (`RunService.check_run_quota`), checked before a child starts:
        #: a tree of runs spends its user's active runs and daily tokens like chats do
        self.check_quota: Callable[[str], Awaitable[None]] | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        executions.on_ended.append(self._parent_ended)

    def _parent_ended(self, run_id: str, session_id: str) -> None:
        if run_id not in self._parents:
            return
        self._parents.discard(run_id)
        task = asyncio.create_task(self.control.cancel_children(run_id))
        self._stopping.add(task)
        task.add_done_callback(self._stopped)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        self._stopping.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("child_runs_not_cancelled", error_type=type(task.exception()).__name__)

    async def ask(self, run: AgentRun, call: ToolCall, agent: str) -> tuple[Any, str | None]:
        message = call.arguments.get("message")
        if not isinstance(message, str) or not message.strip():
            return None, f"'{call.name}' needs `message`, a non-empty string"
        state = run.state
        self._parents.add(run.run_id)
        record = state.children.get(call.id)
        child_id = (
            record.run_id
            if record is not None
            else child_run_id(run.run_id, call.id, state.child_salt)
        )
        child = await self.runs.get_run(child_id)
        if child is None:
            refused = self._refused(run, agent)
            if refused is not None:
                return None, refused
            if run.control.pause.is_set():
                raise ChildPaused
            try:
                if self.check_quota is not None and run.user_id is not None:
                    await self.check_quota(run.user_id)
                child = await self._start(run, call, agent, message, child_id)
            except (NotFound, Conflict, ValidationFailed, RateLimited) as exc:
                return None, f"'{call.name}' could not start agent '{agent}': {exc}"
        if record is None:
            record = state.children[call.id] = ChildRecord(run_id=child_id, agent=agent)
        record.status = child.status.value
        if child.status is RunStatus.PAUSED and not run.control.pause.is_set():
            # paused with its parent: the parent goes on, so does the child
            record.paused_by_parent = False
            with contextlib.suppress(InvalidStateTransition, Conflict):
                await self.control.resume(child_id)
        await self._relay(run, call.id, record)
        child = await self.runs.get_run(child_id)
        if child is None:  # deleted meanwhile (its session was)
            return None, f"the run of agent '{agent}' is gone"
        return self._ended(run, record, child)

    # ------------------------------------------------------------------ start

    def _refused(self, run: AgentRun, agent: str) -> str | None:
        lineage = run.state.lineage or [run.snapshot.agent.name]
        if agent in lineage:
            return (
                f"agent '{agent}' is already running in this chain of runs "
                f"({' → '.join(lineage)}): runs never start themselves again"
            )
        if len(lineage) > self.options.max_run_depth:
            return (
                f"a run at depth {len(lineage) - 1} may not start another "
                f"(AGIO_MAX_RUN_DEPTH={self.options.max_run_depth})"
            )
        return None

    async def _start(
        self, run: AgentRun, call: ToolCall, agent: str, message: str, child_id: str
    ) -> Run:
        """Store the child run (its own session, the parent's user) and start it."""
        executions = self.executions
        stored = await executions.components.get(agent, "agent", cached=True)
        if stored is None or stored.name != agent:
            raise NotFound(f"Agent '{agent}' does not exist")
        snapshot = await executions.snapshots.take(executions.components, stored)
        prompt = run.state.agent_prompts.get(agent)
        if prompt is not None:
            snapshot.agent = snapshot.agent.model_copy(update={"system_prompt": prompt})
        state = await executions.chat_state(snapshot, None, message)
        state.lineage = [*(run.state.lineage or [run.snapshot.agent.name]), agent]
        state.agent_prompts = dict(run.state.agent_prompts)
        child = dataclasses.replace(
            new_run(
                stored.id,
                stored.name,
                new_id("ses"),
                run.user_id,
                message,
                snapshot,
                parent_run_id=run.run_id,
            ),
            id=child_id,
            parent_call_id=call.id,
        )
        await run.writer.flush()  # the parent's row and events first (the child refers to it)
        try:
            await executions.create_and_launch(
                child, snapshot, state, new_session=True, launch_early=False
            )
        except ValidationFailed:
            found = await self.runs.get_run(child_id)  # started by a racing copy: that one
            if found is None:
                raise
            return found
        log.info("child_run_started", run_id=child_id, parent_run_id=run.run_id, agent=agent)
        return child

    # ------------------------------------------------------------------ follow

    async def _relay(self, run: AgentRun, call_id: str, record: ChildRecord) -> None:
        """Relay the child's events after `record.relayed_seq` until it ends, or, if the
        parent pauses meanwhile, until the child has paused (then `ChildPaused`)."""
        events = follow(
            self.runs,
            self.runs,
            self.bus,
            record.run_id,
            record.relayed_seq,
            local_owner=self.executions.owner_id,
        )
        pausing = asyncio.ensure_future(run.control.pause.wait())
        step: asyncio.Future[list[Event]] | None = None
        try:
            while True:
                step = asyncio.ensure_future(anext(events))
                await asyncio.wait({step, pausing}, return_when=asyncio.FIRST_COMPLETED)
                if step.done():
                    try:
                        batch = step.result()
                    except StopAsyncIteration:
                        return
                    step = None
                    if self._emit(run, call_id, record, batch):
                        return
                    if (
                        batch[-1].type == ev.RUN_PAUSED
                        and record.paused_by_parent
                        and not run.control.pause.is_set()
                    ):
                        # the parent's own pause, arrived after the parent resumed (the
                        # child is in another process): the parent goes on, so does it
                        record.paused_by_parent = False
                        with contextlib.suppress(InvalidStateTransition, Conflict):
                            await self.control.resume(record.run_id)
                    continue
                await self._pause_child(run, call_id, record)
                return
        finally:
            pausing.cancel()
            if step is not None and not step.done():
                step.cancel()
                await asyncio.wait({step})
            with contextlib.suppress(Exception):
                await events.aclose()

    def _emit(self, run: AgentRun, call_id: str, record: ChildRecord, batch: list[Event]) -> bool:
        """Relay `batch`; True once the child's terminal event is relayed."""
        for event in batch:
            if event.seq <= record.relayed_seq:
                continue
            run.emit(ev.CHILD_EVENT, relayed(record.run_id, call_id, record.agent, event))
            record.relayed_seq = event.seq
            if event.terminal:
                record.status = ev.ENDED_AS[event.type].value
                return True
        return False

    async def _pause_child(self, run: AgentRun, call_id: str, record: ChildRecord) -> None:
        """The parent is pausing: pause the child at its safe point, relay what it wrote
        until then; `ChildPaused` unless it ended first (then the call has its answer)."""
        record.paused_by_parent = True
        with contextlib.suppress(InvalidStateTransition, Conflict):
            await self.control.pause(record.run_id)
        rest = await self.runs.events_after(record.run_id, record.relayed_seq, limit=100_000)
        if self._emit(run, call_id, record, rest):
            return
        child = await self.runs.get_run(record.run_id)
        if child is not None and child.status.terminal:
            rest = await self.runs.events_after(record.run_id, record.relayed_seq, limit=100_000)
            self._emit(run, call_id, record, rest)
            return
        record.status = child.status.value if child is not None else record.status
        raise ChildPaused

    def _ended(self, run: AgentRun, record: ChildRecord, child: Run) -> tuple[Any, str | None]:
        record.status = child.status.value
        record.tokens = tree_tokens(child)
        run.metrics.children_tokens = sum(r.tokens for r in run.state.children.values())
        if child.status is RunStatus.COMPLETED:
            return child.response_content or "", None
        if child.status is RunStatus.FAILED:
            error = child.error or {}
            return None, (
                f"agent '{record.agent}' failed ({error.get('type', 'Error')}): "
                f"{error.get('message', '')}"
            )
        return None, f"agent '{record.agent}' was {child.status.value} before it answered"
