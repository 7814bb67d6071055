"""Launching runs: the runs this process executes (their tasks, their live `AgentRun`s and
what was asked of them before their `AgentRun` existed), creating a new run (a chat, a
branch) and starting one from a `RunState` as an `asyncio` task the server owns."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import structlog
from opentelemetry import trace

from agio.config.components import KnowledgeComponent
from agio.domain.errors import (
    AgentNotFound,
    Conflict,
    RunNotFound,
    SessionNotFound,
)
from agio.domain.ids import new_id
from agio.domain.messages import Message
from agio.domain.runs import Checkpoint, QueueRank, Run, RunStatus
from agio.runtime.approval_gate import ApprovalGate
from agio.runtime.chat_state import chat_state
from agio.runtime.client_turn import ClientTurn, check_tools, thread_session
from agio.runtime.creating import QUEUED_CHECKPOINT, Creating
from agio.runtime.history import SessionHistory
from agio.runtime.launch import Launch, new_run
from agio.runtime.loop import AgentRun, RunOutcome
from agio.runtime.options import RuntimeOptions
from agio.runtime.snapshot import AgentSnapshot, ModelCache, SnapshotCache, go_live
from agio.runtime.state import RunState
from agio.runtime.steering import ChildCaller
from agio.runtime.unstarted import cancel_unstarted, fail_unstarted
from agio.runtime.workflow import WorkflowRun
from agio.storage.checkpoints import checkpoint_row
from agio.storage.components import ComponentRepository
from agio.storage.runs import RunRepository
from agio.storage.writer import RunWriter
from agio.tools.base import Tool

log = structlog.get_logger(__name__)

#: builds the `search_knowledge` tool of an agent that names a knowledge component
KnowledgeTool = Callable[[KnowledgeComponent], Tool]


class Executions(Creating):
    """The runs executing in this process, and launching them."""

    def __init__(
        self,
        components: ComponentRepository,
        runs: RunRepository,
        writer: RunWriter,
        options: RuntimeOptions,
        history: SessionHistory,
        *,
        owner_id: str,
        models: ModelCache,
        tracer: trace.Tracer,
        knowledge_tool: KnowledgeTool | None,
        approval_gate: ApprovalGate | None = None,
    ) -> None:
        self.components = components
        self.approval_gate = approval_gate
        #: answers `ask_<agent>` calls with child runs (set by the RunManager)
        self.children: ChildCaller | None = None
        #: called with a run's id once its task ended with the run waiting for approvals
        self.on_waiting: Callable[[str], Coroutine[Any, Any, Any]] | None = None
        self._after_tasks: set[asyncio.Task[Any]] = set()
        self.runs = runs
        self.writer = writer
        self.options = options
        self.history = history
        self.owner_id = owner_id
        self.models = models
        self.tracer = tracer
        self.knowledge_tool = knowledge_tool
        #: validated snapshots by the revisions of the agent and its components
        self.snapshots = SnapshotCache()
        #: called with (run id, snapshot) as a run starts executing in this process
        self.on_execute: list[Callable[[str, AgentSnapshot], None]] = []
        self.tasks: dict[str, asyncio.Task[RunOutcome]] = {}
        self.live: dict[str, AgentRun] = {}
        self.cancel_early: set[str] = set()  # cancelled before its AgentRun existed
        # ended by the writer (its writes could not be stored) before its AgentRun existed
        self.failed_early: dict[str, dict[str, Any]] = {}
        self.pause_early: set[str] = set()  # paused before its AgentRun existed
        # interrupted by a new chat before its AgentRun existed: its partial answer is kept
        self.keep_partial: set[str] = set()
        #: called with (run id, session id) when a run ends here (its task ended it, or a
        #: state change of a run nobody executes did): its session may start its next run
        self.on_ended: list[Callable[[str, str], None]] = []
        self.starting: set[str] = set()  # claimed or created here, task not yet running
        self.went_live: dict[str, asyncio.Event] = {}  # set once its AgentRun exists
        self.stopping = False
        self.unlaunched: set[str] = set()  # stored while closing, never launched

    async def get_run(self, run_id: str) -> Run:
        run = await self.runs.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def steer_early(self, run_id: str, control: str | None, *, pause: bool = True) -> None:
        """Apply the durable flag a claimer read with the run it claimed (the claim
        cleared it): a pause or cancel asked of whoever had the run before is not lost.
        Without `pause`, a pause flag is dropped (a resume asks for the opposite)."""
        if control in ("cancel", "interrupt"):
            self.cancel_early.add(run_id)
            if control == "interrupt":
                self.keep_partial.add(run_id)
        elif control == "pause" and pause:
            self.pause_early.add(run_id)

    @contextlib.contextmanager
    def starting_here(self, run_id: str) -> Iterator[None]:
        """While a run is claimed or created here but its task is not running yet: the
        heartbeat and the orphan search leave it alone."""
        self.starting.add(run_id)
        try:
            yield
        finally:
            self.starting.discard(run_id)

    # ------------------------------------------------------------------ new runs

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
        queue: QueueRank | None = None,
        gate: Callable[[str], Awaitable[None]] | None = None,
        history: list[Message] | None = None,
        instructions: str | None = None,
        turn: ClientTurn | None = None,
    ) -> Run:
        """Create the run (and its session) and start executing it in the background.
        With `session_visible_to`, a session of any other user is not found.
        `before_launch(run)` is called once the run's id is known, before its task can
        publish anything (a new stream subscribes there). `schedule_id`: the schedule
        whose firing this run is (stored on the run). `gate(session_id)`, for an
        existing session once it is found, may refuse the chat (SPEC §12: a busy
        session). With `queue`, the run is created queued (`create_queued`): it starts
        when its session is free (`agio.runtime.multitask`). `history`, `instructions`:
        see `agio.runtime.chat_state` (the OpenAI-compatible API's). A `turn` (an AG-UI
        client's: `agio.runtime.client_turn`) names its session by its thread, and is
        never queued."""
        if history is not None and session_id is not None:
            raise ValueError("history is for a new session only")
        if self.stopping:
            raise Conflict("The server is shutting down; retry on another instance")
        # from memory while the repository has them: a run of an unchanged agent reads no
        # component and validates none
        agent = await self.components.get(agent_key, "agent", cached=True)
        if agent is None:  # a workflow is run like an agent (SPEC §20)
            agent = await self.components.get(agent_key, "workflow", cached=True)
        if agent is None:
            raise AgentNotFound(agent_key)
        new_session = session_id is None
        if turn is not None:
            session_id, new_session = await thread_session(
                self.runs, turn, agent.id, user_id, session_visible_to
            )
            queue = None
        if not new_session and session_id is not None:
            session = await self.runs.get_session(session_id)
            if session is None or (
                session_visible_to is not None and session.user_id != session_visible_to
            ):
                raise SessionNotFound(session_id)
            if session.agent_id != agent.id:
                raise Conflict(f"Session '{session_id}' belongs to another agent")
            if gate is not None:
                await gate(session_id)
        snapshot = await self.snapshots.take(self.components, agent)
        if turn is not None:
            check_tools(turn, snapshot)
        # a queued run reads its session's history when it starts, not now
        state = await self.chat_state(
            snapshot,
            None if queue is not None or new_session else session_id,
            message,
            history=history,
            instructions=instructions,
            turn=turn,
        )
        run = new_run(
            agent.id,
            agent.name,
            session_id or new_id("ses"),
            user_id,
            message,
            snapshot,
            schedule_id=schedule_id,
        )
        if queue is not None and session_id is not None:
            run.queue_rank = int(queue)
            await self.create_queued(run, snapshot, state, before_launch=before_launch)
        else:
            taken = turn is not None  # a thread's session: a concurrent chat may create it
            await self.create_and_launch(
                run, snapshot, state, new_session=new_session, before_launch=before_launch,
                may_be_taken=taken,
            )  # fmt: skip
        log.info(
            "run_created",
            run_id=run.id,
            agent_id=agent.id,
            session_id=run.session_id,
            user_id=user_id,
        )
        return run

    async def chat_state(
        self,
        snapshot: AgentSnapshot,
        session_id: str | None,
        message: str,
        *,
        history: list[Message] | None = None,
        instructions: str | None = None,
        system: list[Message] | None = None,
        turn: ClientTurn | None = None,
    ) -> RunState:
        """The state a chat's run starts from (`agio.runtime.chat_state`)."""
        return await chat_state(
            self.history, snapshot, session_id, message, history=history,
            instructions=instructions, system=system, turn=turn,
        )  # fmt: skip

    async def continue_from(
        self,
        run: Run,
        checkpoint: Checkpoint,
        resumed: dict[str, Any],
        *,
        state: RunState | None = None,
    ) -> None:
        """Launch a run claimed here from its checkpoint (or from `state`, taken of it). A
        queued run (its checkpoint `queued`) starts from its session's history as it is
        now, which the runs before it have completed; that state is its `start`
        checkpoint, stored before anything else of the run."""
        snapshot = AgentSnapshot.from_json(checkpoint.agent_config)
        if checkpoint.kind == QUEUED_CHECKPOINT:
            queued = RunState.from_json(checkpoint.state)
            state = await self.chat_state(
                snapshot,
                run.session_id,
                run.input_query,
                # its system messages as queued: the run's own instructions stay with it
                system=[m for m in queued.messages[: queued.new_from] if m.role == "system"],
            )
            self.writer.save_checkpoint(
                checkpoint_row(
                    run.id,
                    state,
                    checkpoint.agent_config,
                    kind="start",
                    seq=0,
                    status=RunStatus.PENDING,
                )
            )
        state = state or RunState.from_json(checkpoint.state)
        last_seq = await self.runs.max_seq(run.id)
        # a run that never started (paused or orphaned while pending) starts now
        self.launch(
            Launch(
                run.id,
                run.session_id,
                run.user_id,
                snapshot,
                state,
                last_seq=last_seq,
                resumed=resumed if run.started_at is not None else None,
            )
        )

    # ------------------------------------------------------------------ tasks

    def launch(self, launch: Launch) -> None:
        task = asyncio.create_task(self._run(launch), name=f"run-{launch.run_id}")
        self.tasks[launch.run_id] = task
        self.went_live[launch.run_id] = asyncio.Event()
        task.add_done_callback(self._forget)
        task.add_done_callback(lambda done: self._task_ended(launch, done))

    def _task_ended(self, launch: Launch, task: asyncio.Task[RunOutcome]) -> None:
        # a task cancelled without an outcome is a stopping process: the run goes on later
        if task.cancelled() or task.exception() is not None:
            return
        if task.result().status.terminal:
            self.ended(launch.run_id, launch.session_id)

    def ended(self, run_id: str, session_id: str) -> None:
        """A run ended here (stored): tell `on_ended`."""
        for hook in self.on_ended:
            try:
                hook(run_id, session_id)
            except Exception as exc:  # a hook must never fail the run's ending
                log.warning("run_ended_hook_failed", error_type=type(exc).__name__)

    def _forget(self, task: asyncio.Task[RunOutcome]) -> None:
        for run_id, known in list(self.tasks.items()):
            if known is task:
                del self.tasks[run_id]
                self.live.pop(run_id, None)
                self.failed_early.pop(run_id, None)
                self.keep_partial.discard(run_id)
                self.cancel_early.discard(run_id)
                self.pause_early.discard(run_id)
                went_live = self.went_live.pop(run_id, None)
                if went_live is not None:
                    went_live.set()
                if self._waits(task) and self.on_waiting is not None and not self.stopping:
                    # decided while it stopped to wait? then it continues now (conditional
                    # claim: whoever decided may be continuing it too; one of them does)
                    after: asyncio.Task[Any] = asyncio.create_task(
                        self.on_waiting(run_id), name=f"after-{run_id}"
                    )
                    self._after_tasks.add(after)
                    after.add_done_callback(self._after_done)

    @staticmethod
    def _waits(task: asyncio.Task[RunOutcome]) -> bool:
        if task.cancelled() or task.exception() is not None:
            return False
        return task.result().status is RunStatus.WAITING_APPROVAL

    def _after_done(self, task: asyncio.Task[Any]) -> None:
        self._after_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("run_continue_failed", error_type=type(task.exception()).__name__)

    async def _run(self, launch: Launch) -> RunOutcome:
        """The task of a run: its model and tools made live, then its `AgentRun`."""
        run_id, snapshot = launch.run_id, launch.snapshot
        for hook in self.on_execute:
            hook(run_id, snapshot)
        # every log line of the run carries these (the task's own copy of the context)
        with structlog.contextvars.bound_contextvars(
            run_id=run_id, agent_id=snapshot.agent_id, user_id=launch.user_id
        ):
            try:
                live = await go_live(
                    self.components,
                    snapshot,
                    self.models,
                    tools=self.options.tools,
                    knowledge_tool=self.knowledge_tool,
                    tracer=self.tracer,
                )
            except asyncio.CancelledError:
                failed = self.failed_early.pop(run_id, None)
                if failed is not None:  # the writer ended it: nothing more to write
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    return RunOutcome(RunStatus.FAILED, None, {}, failed)
                if run_id in self.cancel_early:
                    return await cancel_unstarted(
                        self.writer,
                        self.runs,
                        launch,
                        keep_partial=run_id in self.keep_partial,
                    )
                raise
            except Exception as exc:
                log.warning("run_setup_failed", error_type=type(exc).__name__)
                return await fail_unstarted(self.writer, launch, exc)
            kind = WorkflowRun if snapshot.workflow is not None else AgentRun
            agent_run = kind(
                run_id=run_id,
                session_id=launch.session_id,
                snapshot=snapshot,
                model=live.model,
                tools=live.tools,
                writer=self.writer,
                state=launch.state,
                last_seq=launch.last_seq,
                max_steps_ceiling=self.options.max_steps_ceiling,
                max_tokens=self.options.max_tokens_per_run,
                tracer=self.tracer,
                on_session_messages=self.history.copy_for(snapshot),
                user_id=launch.user_id,
                approval_gate=self.approval_gate,
                log_model_calls=self.options.model_call_log,
                children=self.children,
            )
            agent_run._creation_stored = launch.stored
            self.live[run_id] = agent_run
            self.went_live[run_id].set()
            if run_id in self.pause_early:
                self.pause_early.discard(run_id)
                agent_run.control.pause.set()
            if run_id in self.cancel_early:
                agent_run.control.cancel = True
                agent_run.control.keep_partial = run_id in self.keep_partial
                asyncio.current_task().cancel()  # type: ignore[union-attr]
            return await agent_run.execute(resumed=launch.resumed)

    async def wait(self, run_id: str) -> RunOutcome | None:
        """Wait for a run this process executes to stop (the waiter may go away freely);
        None when the run is not executing here."""
        task = self.tasks.get(run_id)
        if task is None:
            return None
        return await asyncio.shield(task)

    async def wait_local(self, run_id: str) -> RunOutcome | None:
        """Like `wait`, for at most `control_wait_seconds` (None after that)."""
        task = self.tasks.get(run_id)
        if task is None:
            return None
        try:
            async with asyncio.timeout(self.options.control_wait_seconds):
                return await asyncio.shield(task)
        except TimeoutError:
            return None
