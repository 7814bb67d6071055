"""Launching runs: the runs this process executes (their tasks, their live `AgentRun`s and
what was asked of them before their `AgentRun` existed), creating a new run (a chat, a
branch) and starting one from a `RunState` as an `asyncio` task the server owns."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry import trace

from agio.config.components import KnowledgeComponent
from agio.domain import events as ev
from agio.domain.errors import (
    AgentNotFound,
    Conflict,
    RunNotFound,
    SessionNotFound,
    ValidationFailed,
)
from agio.domain.events import Event
from agio.domain.ids import new_id
from agio.domain.messages import Message
from agio.domain.runs import Checkpoint, Run, RunStatus
from agio.domain.time import utcnow
from agio.runtime.approval_gate import ApprovalGate
from agio.runtime.history import SessionHistory
from agio.runtime.loop import AgentRun, RunOutcome
from agio.runtime.options import RuntimeOptions
from agio.runtime.snapshot import AgentSnapshot, ModelCache, SnapshotCache, go_live
from agio.runtime.state import RunState
from agio.storage.checkpoints import checkpoint_row
from agio.storage.components import ComponentRepository
from agio.storage.runs import RunRepository, new_run_rows
from agio.storage.writer import RunWriteFailed, RunWriter
from agio.tools.base import Tool

log = structlog.get_logger(__name__)

#: builds the `search_knowledge` tool of an agent that names a knowledge component
KnowledgeTool = Callable[[KnowledgeComponent], Tool]


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


class Executions:
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
        self.starting: set[str] = set()  # claimed or created here, task not yet running
        self.went_live: dict[str, asyncio.Event] = {}  # set once its AgentRun exists
        self.stopping = False

    async def get_run(self, run_id: str) -> Run:
        run = await self.runs.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

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
    ) -> Run:
        """Create the run (and its session) and start executing it in the background.
        With `session_visible_to`, a session of any other user is not found.
        `before_launch(run)` is called once the run's id is known, before its task can
        publish anything (a new stream subscribes there). `schedule_id`: the schedule
        whose firing this run is (stored on the run)."""
        if self.stopping:
            raise Conflict("The server is shutting down; retry on another instance")
        # from memory while the repository has them: a run of an unchanged agent reads no
        # component and validates none
        agent = await self.components.get(agent_key, "agent", cached=True)
        if agent is None:
            raise AgentNotFound(agent_key)
        if session_id is not None:
            session = await self.runs.get_session(session_id)
            if session is None or (
                session_visible_to is not None and session.user_id != session_visible_to
            ):
                raise SessionNotFound(session_id)
            if session.agent_id != agent.id:
                raise Conflict(f"Session '{session_id}' belongs to another agent")
        snapshot = await self.snapshots.take(self.components, agent)
        history = await self.history.messages_for(session_id, snapshot) if session_id else []
        messages: list[Message] = []
        if snapshot.agent.system_prompt:
            messages.append(Message.system(snapshot.agent.system_prompt))
        messages.extend(history)
        state = RunState(messages=[*messages, Message.user(message)], new_from=len(messages))
        run = new_run(
            agent.id,
            agent.name,
            session_id or new_id("ses"),
            user_id,
            message,
            snapshot,
            schedule_id=schedule_id,
        )
        await self.create_and_launch(
            run, snapshot, state, new_session=session_id is None, before_launch=before_launch
        )
        log.info(
            "run_created",
            run_id=run.id,
            agent_id=agent.id,
            session_id=run.session_id,
            user_id=user_id,
        )
        return run

    async def create_and_launch(
        self,
        run: Run,
        snapshot: AgentSnapshot,
        state: RunState,
        *,
        new_session: bool,
        description: str = "",
        before_launch: Callable[[Run], None] | None = None,
    ) -> None:
        """Store a new run with its `start` checkpoint and launch it; return once it is
        stored. The task starts while the creation commits: its model call overlaps the
        commit, and its first writes queue behind the creation's (the writer keeps the
        order), so nothing of the run is stored, or published, before the run itself. If
        the creation cannot be stored, its task is stopped and the caller gets the error;
        a run stored whose first writes were refused was ended `failed` by the writer."""
        with self.starting_here(run.id):
            self.writer.create_run(
                new_run_rows(run, new_session=new_session, owner_id=self.owner_id)
            )
            self.writer.save_checkpoint(
                checkpoint_row(
                    run.id,
                    state,
                    snapshot.to_json(),
                    kind="start",
                    seq=0,
                    status=RunStatus.PENDING,
                    description=description,
                )
            )
            if before_launch is not None:
                before_launch(run)
            self.launch(Launch(run.id, run.session_id, run.user_id, snapshot, state))
            # stored (group commit) before anyone is told its id; still `starting` until
            # then, so the heartbeat leaves the run alone while it has no row to renew
            try:
                await self.writer.flush(run.id)
            except RunWriteFailed as exc:
                # the flush answers for every write of the run so far: if the creation was
                # stored and a first write of the task's was refused, the run exists and
                # ended `failed` (its stream says so); only an unstored run is an error here
                if await self.runs.get_run(run.id) is not None:
                    return
                task = self.tasks.get(run.id)
                if task is not None and not task.done():
                    self.failed_early.setdefault(run.id, exc.error)
                    task.cancel()
                raise ValidationFailed(
                    f"The run could not be stored: {exc.error['message']}"
                ) from exc

    async def continue_from(
        self,
        run: Run,
        checkpoint: Checkpoint,
        resumed: dict[str, Any],
        *,
        state: RunState | None = None,
    ) -> None:
        """Launch a run claimed here from its checkpoint (or from `state`, taken of it)."""
        snapshot = AgentSnapshot.from_json(checkpoint.agent_config)
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

    def _forget(self, task: asyncio.Task[RunOutcome]) -> None:
        for run_id, known in list(self.tasks.items()):
            if known is task:
                del self.tasks[run_id]
                self.live.pop(run_id, None)
                self.failed_early.pop(run_id, None)
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
                    enable_http_request=self.options.enable_http_request_tool,
                    knowledge_tool=self.knowledge_tool,
                    tracer=self.tracer,
                )
            except asyncio.CancelledError:
                failed = self.failed_early.pop(run_id, None)
                if failed is not None:  # the writer ended it: nothing more to write
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    return RunOutcome(RunStatus.FAILED, None, {}, failed)
                if run_id in self.cancel_early:
                    return await self._cancel_unstarted(run_id, launch.state)
                raise
            except Exception as exc:
                log.warning("run_setup_failed", error_type=type(exc).__name__)
                return await self._fail_unstarted(run_id, launch.last_seq, exc)
            agent_run = AgentRun(
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
            )
            self.live[run_id] = agent_run
            self.went_live[run_id].set()
            if run_id in self.pause_early:
                self.pause_early.discard(run_id)
                agent_run.control.pause.set()
            if run_id in self.cancel_early:
                agent_run.control.cancel = True
                asyncio.current_task().cancel()  # type: ignore[union-attr]
            return await agent_run.execute(resumed=launch.resumed)

    async def _fail_unstarted(self, run_id: str, last_seq: int, exc: Exception) -> RunOutcome:
        error = {"type": "RunSetupFailed", "message": f"{type(exc).__name__}: {exc}"}
        now = utcnow()
        self.writer.update_run(
            run_id, status=RunStatus.FAILED.value, error=error, ended_at=now, owner_id=None
        )
        self.writer.append(
            Event(run_id, last_seq + 1, ev.RUN_FAILED, now, {"run_id": run_id, "error": error})
        )
        await self.writer.flush()
        return RunOutcome(RunStatus.FAILED, None, {}, error)

    async def _cancel_unstarted(self, run_id: str, state: RunState) -> RunOutcome:
        """Cancelled while it was being set up (say, resumed and cancelled at once): it
        keeps what it had streamed before, like any cancelled run."""
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        seq = await self.runs.max_seq(run_id)
        response = state.response_so_far()
        self.writer.update_run(
            run_id,
            status=RunStatus.CANCELLED.value,
            ended_at=utcnow(),
            owner_id=None,
            control=None,
            response_content=response,
        )
        self.writer.append(Event(run_id, seq + 1, ev.RUN_CANCELLED, utcnow(), {"run_id": run_id}))
        await self.writer.flush()
        return RunOutcome(RunStatus.CANCELLED, response, {})

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
