"""The RunManager: the runtime as the API sees it. It owns the runs this process executes
and their lifecycle (start: recover, then maintain; close: hand the runs back), and puts
together the runtime's parts, one concept each:

- `launching.Executions`: new runs (chat, branches), their tasks and live `AgentRun`s;
- `history.SessionHistory`: a session's earlier messages by the agent's memory;
- `control.RunControl`: pause, resume, cancel, by the state machine;
- `branching.Branching`: checkpoints, restore, fork;
- `recovery.Leases`: heartbeat, durable control flags, fencing, recovery of orphans;
- `multitask.SessionQueue`: one run per session, what a chat on a busy one does, and
  starting queued runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from opentelemetry import trace

from agio.bus.base import EventBus
from agio.domain.messages import Message
from agio.domain.runs import Checkpoint, MultitaskStrategy, Run, RunStatus
from agio.runtime.approval_gate import ApprovalGate
from agio.runtime.approvals import Approvals
from agio.runtime.branching import Branching, ForkChanges
from agio.runtime.call_retention import CallRetention
from agio.runtime.children import ChildRuns
from agio.runtime.client_turn import ClientTurn
from agio.runtime.control import RunControl
from agio.runtime.history import SessionHistory
from agio.runtime.launching import Executions, KnowledgeTool
from agio.runtime.loop import RunOutcome
from agio.runtime.multitask import SessionQueue
from agio.runtime.options import RuntimeOptions
from agio.runtime.recovery import Leases
from agio.runtime.redis_memory import RedisMemoryStore
from agio.runtime.snapshot import AgentSnapshot, ModelCache
from agio.storage.approvals import ApprovalRepository
from agio.storage.components import ComponentRepository
from agio.storage.model_calls import ModelCallRepository
from agio.storage.runs import RunRepository
from agio.storage.writer import RunWriter
from agio.tools.mcp_links import McpLinks

__all__ = ["ForkChanges", "RunManager", "RuntimeOptions", "new_owner_id"]

log = structlog.get_logger(__name__)


def new_owner_id() -> str:
    """An id for this process as the owner of the runs it executes (leases, fencing)."""
    return f"proc_{uuid.uuid4().hex[:16]}"


class RunManager:
    def __init__(
        self,
        components: ComponentRepository,
        runs: RunRepository,
        writer: RunWriter,
        bus: EventBus,
        options: RuntimeOptions,
        *,
        tracer: trace.Tracer | None = None,
        knowledge_tool: KnowledgeTool | None = None,
        redis_memory: RedisMemoryStore | None = None,
        owner_id: str | None = None,
        on_execute: Sequence[Callable[[str, AgentSnapshot], None]] = (),
    ) -> None:
        """`tracer`: OpenTelemetry tracer for runs (a no-op one unless tracing is on);
        `knowledge_tool`: builds the `search_knowledge` tool of agents that name a knowledge
        component; `redis_memory`: session histories in Redis, for `backend: redis`;
        `owner_id`: this process's id as the owner of runs (the writer's, for fencing; a
        new one when not given); `on_execute`: called with (run id, snapshot) as a run
        starts executing here. The manager attaches itself to the writer's hooks: runs
        whose writes are fenced or refused are stopped."""
        self.run_repo = runs
        self.writer = writer
        self.bus = bus
        self.options = options
        self.owner_id = owner_id or writer.owner_id or new_owner_id()
        if writer.owner_id is not None and writer.owner_id != self.owner_id:
            # every write of this manager's runs would be fenced
            raise ValueError("the run writer's owner_id is another process's")
        writer.owner_id = self.owner_id  # the writer fences with this manager's id
        self.models = ModelCache(mcp=McpLinks(connect_timeout=options.mcp_connect_timeout))
        self.history = SessionHistory(
            components,
            runs,
            self.models,
            default_messages=options.default_memory_messages,
            redis_memory=redis_memory,
        )
        approval_repo = ApprovalRepository(runs.db)
        self.executions = Executions(
            components,
            runs,
            writer,
            options,
            self.history,
            owner_id=self.owner_id,
            models=self.models,
            tracer=tracer or trace.NoOpTracer(),
            knowledge_tool=knowledge_tool,
            approval_gate=ApprovalGate(approval_repo, options.approval_timeout_seconds),
        )
        self.control = RunControl(runs, bus, self.executions, options)
        #: agents as tools and workflow steps: runs answering a run's calls (SPEC §20)
        self.children = ChildRuns(runs, bus, self.executions, self.control, options)
        self.executions.children = self.children
        self.branching = Branching(runs, bus, self.executions)
        self.branching.cancel_children = self.control.cancel_children
        self.leases = Leases(runs, bus, self.executions, options)
        self.approvals = Approvals(approval_repo, runs, self.executions)
        # a run that stopped to wait continues at once if it was decided meanwhile; the
        # sweep rejects expired approvals and continues runs left decided but waiting
        self.executions.on_waiting = self.approvals.continue_if_decided
        self.leases.periodic.append(self.approvals.sweep)
        #: deletes the model-call log of runs ended longer ago than the retention
        self.call_retention = CallRetention(
            ModelCallRepository(runs.db), options.model_call_retention_days
        )
        self.leases.periodic.append(self.call_retention.sweep)
        self.queue = SessionQueue(runs, self.executions, self.control)
        self.leases.after_recover.append(self.queue.advance_all)
        #: called with (run id, snapshot) as a run starts executing in this process
        self.on_execute: list[Callable[[str, AgentSnapshot], None]] = self.executions.on_execute
        self.on_execute.extend(on_execute)
        writer.on_fenced.append(self.stop_fenced)
        writer.on_write_failed.append(self.stop_failed)
        self._maintenance: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.recover()
        await self.queue.advance_all()  # sessions left free by a process that stopped
        self._maintenance = asyncio.create_task(self.leases.maintain(), name="agio-run-maintenance")

    async def close(self) -> None:
        """Stop: running runs are left at their last stored state and handed back, so that
        the next process (or another replica) continues them."""
        self.executions.stopping = True
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        await self.queue.close()
        running = list(self.executions.tasks)
        tasks = list(self.executions.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.writer.flush()
            # with those whose creation was stored as the process closed: never launched
            running.extend(self.executions.unlaunched)
            await self.run_repo.release(running, self.owner_id)
        except Exception as exc:
            log.warning("run_release_failed", error_type=type(exc).__name__)
        await self.models.close()

    @property
    def active_runs(self) -> int:
        return len(self.executions.tasks)

    # ------------------------------------------------------------------ runs

    async def start_chat(
        self,
        agent_key: str,
        message: str,
        *,
        session_id: str | None,
        user_id: str | None,
        session_visible_to: str | None = None,
        before_launch: Callable[[Run], None] | None = None,
        schedule_id: str | None = None,
        turn: ClientTurn | None = None,
        strategy: MultitaskStrategy = MultitaskStrategy.REJECT,
        history: list[Message] | None = None,
        instructions: str | None = None,
    ) -> Run:
        """Create the run (and its session) and start executing it in the background.
        With `session_visible_to`, a session of any other user is not found;
        `before_launch(run)` runs before the run's task can publish anything;
        `schedule_id`: the schedule whose firing the run is. On a session with a run in
        progress, `strategy` decides (SPEC §12, `multitask.py`); a queued run is returned
        before it starts. `history`: the earlier messages of a new session, given by the
        caller (the OpenAI-compatible API); `instructions`: a system message for this run
        only."""
        return await self.queue.start_chat(
            strategy,
            agent_key,
            message,
            session_id=session_id,
            user_id=user_id,
            session_visible_to=session_visible_to,
            before_launch=before_launch,
            schedule_id=schedule_id,
            history=history,
            instructions=instructions,
            turn=turn,
        )

    def annotate(self, run_id: str, **values: Any) -> None:
        """Store more of a new run's columns (`response_options` of the OpenAI-compatible
        API): called from `before_launch`, the update is stored with the run's creation."""
        self.writer.update_run(run_id, **values)

    async def wait(self, run_id: str) -> RunOutcome | None:
        """Wait for a run this process executes to stop (the waiter may go away freely);
        None when the run is not executing here."""
        return await self.executions.wait(run_id)

    async def forget_session(self, session_id: str) -> None:
        """A deleted session's copy in Redis goes too."""
        await self.history.forget(session_id)

    # ------------------------------------------------------------------ control

    async def pause(self, run_id: str) -> RunStatus:
        return await self.control.pause(run_id)

    async def resume(self, run_id: str) -> RunStatus:
        return await self.control.resume(run_id)

    async def cancel(self, run_id: str) -> RunStatus:
        return await self.control.cancel(run_id)

    async def _transition_idle(
        self, run: Run, target: RunStatus, event_type: str, **values: Any
    ) -> RunStatus:
        return await self.control.transition_idle(run, target, event_type, **values)

    # ------------------------------------------------------------------ branching

    async def create_checkpoint(self, run_id: str, description: str, tags: list[str]) -> Checkpoint:
        return await self.branching.create_checkpoint(run_id, description, tags)

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        return await self.branching.get_checkpoint(checkpoint_id)

    async def restore(
        self, checkpoint_id: str, *, create_new_run: bool, modified_query: str | None
    ) -> Run:
        """Run again from a checkpoint: as a new run, or the same (paused) run in place."""
        return await self.branching.restore(
            checkpoint_id, create_new_run=create_new_run, modified_query=modified_query
        )

    async def fork(self, checkpoint_id: str, changes: ForkChanges, description: str) -> Run:
        """A new run from a checkpoint with changes; the source run is not touched."""
        return await self.branching.fork(checkpoint_id, changes, description)

    # ------------------------------------------------------------------ leases

    def stop_fenced(self, run_ids: set[str]) -> None:
        """The writer dropped writes for these runs (`RunWriter.on_fenced`)."""
        self.leases.stop_fenced(run_ids)

    def stop_failed(self, errors: dict[str, dict[str, Any]]) -> None:
        """The writer could not store these runs' writes (`RunWriter.on_write_failed`)."""
        self.leases.stop_failed(errors)

    async def recover(self) -> int:
        """Continue (or fail, as configured) unfinished runs whose process stopped."""
        return await self.leases.recover()
