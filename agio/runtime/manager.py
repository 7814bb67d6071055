"""The RunManager: starts each run as a task owned by the server (not by the HTTP request),
steers runs (pause, resume, cancel, checkpoints, restore, fork) through one state machine,
keeps the runs it owns alive in storage (heartbeat), and recovers runs whose process died.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import structlog
from opentelemetry import trace

from agio.bus.base import EventBus
from agio.config.components import KnowledgeComponent, MemoryComponent, ModelComponent
from agio.domain import events as ev
from agio.domain.errors import (
    CheckpointNotFound,
    Conflict,
    InvalidStateTransition,
    RunNotFound,
    SessionNotFound,
    ValidationFailed,
)
from agio.domain.events import Event
from agio.domain.ids import new_id
from agio.domain.messages import Message
from agio.domain.runs import ACTIONS, Checkpoint, Run, RunStatus, can_transition
from agio.domain.time import utcnow
from agio.models.base import ModelRequest, TextDelta
from agio.runtime.loop import AgentRun, RunOutcome
from agio.runtime.memory import (
    buffer_window,
    split_for_summary,
    summary_message,
    summary_request,
    token_window,
)
from agio.runtime.redis_memory import RedisMemoryStore
from agio.runtime.snapshot import AgentSnapshot, ModelCache, go_live, take_snapshot, with_secrets
from agio.runtime.state import RunState, ToolResult
from agio.services.components import ComponentService
from agio.storage.runs import RunRepository, new_run_rows
from agio.storage.writer import RunWriteFailed, RunWriter
from agio.tools.base import Tool

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RuntimeOptions:
    lease_seconds: float = 30.0
    enable_http_request_tool: bool = False
    default_memory_messages: int = 20
    recovery: Literal["resume", "fail"] = "resume"
    max_recoveries: int = 3
    control_wait_seconds: float = 10.0
    control_poll_seconds: float = 0.25
    max_steps_ceiling: int | None = None
    max_tokens_per_run: int | None = None


@dataclass(frozen=True)
class ForkChanges:
    """What a fork (or a restore) changes in the checkpoint's state."""

    modified_query: str | None = None
    system_prompt: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_steps: int | None = None
    messages: tuple[Message, ...] = ()


def _checkpoint_row(
    run_id: str,
    state: RunState,
    snapshot: AgentSnapshot,
    *,
    kind: str,
    seq: int,
    status: RunStatus,
    description: str = "",
    tags: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id("ckpt"),
        "run_id": run_id,
        "step_num": state.step_num,
        "kind": kind,
        "description": description,
        "tags": tags or [],
        "state": state.to_json(),
        "agent_config": snapshot.to_json(),
        "seq": seq,
        "run_status": status.value,
        "message_count": len(state.messages),
        "total_tokens": state.total_tokens,
        "created_at": utcnow(),
    }


def _illegal(run: Run, action: str) -> InvalidStateTransition:
    return InvalidStateTransition(f"Cannot {action} run '{run.id}': it is {run.status.value}")


class RunManager:
    def __init__(
        self,
        components: ComponentService,
        runs: RunRepository,
        writer: RunWriter,
        bus: EventBus,
        options: RuntimeOptions,
    ) -> None:
        self.components = components
        self.runs = runs
        self.writer = writer
        self.bus = bus
        self.options = options
        #: called with (run id, snapshot) as a run starts executing in this process
        self.on_execute: list[Callable[[str, AgentSnapshot], None]] = []
        #: builds the `search_knowledge` tool of agents that name a knowledge component
        self.knowledge_tool: Callable[[KnowledgeComponent], Tool] | None = None
        #: session histories in Redis, for memories with `backend: redis` (when configured)
        self.redis_memory: RedisMemoryStore | None = None
        #: OpenTelemetry tracer for runs (a no-op one unless tracing is on)
        self.tracer: trace.Tracer = trace.NoOpTracer()
        self.owner_id = f"proc_{uuid.uuid4().hex[:16]}"
        self.models = ModelCache()
        self._tasks: dict[str, asyncio.Task[RunOutcome]] = {}
        self._live: dict[str, AgentRun] = {}
        self._cancel_early: set[str] = set()  # cancelled before its AgentRun existed
        # ended by the writer (its writes could not be stored) before its AgentRun existed
        self._failed_early: dict[str, dict[str, Any]] = {}
        self._pause_early: set[str] = set()  # paused before its AgentRun existed
        self._starting: set[str] = set()  # claimed or created here, task not yet running
        self._went_live: dict[str, asyncio.Event] = {}  # set once its AgentRun exists
        self._maintenance: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.recover()
        self._maintenance = asyncio.create_task(self._maintain(), name="agio-run-maintenance")

    async def close(self) -> None:
        """Stop: running runs are left at their last stored state and handed back, so that
        the next process (or another replica) continues them."""
        self._stopping = True
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        running = list(self._tasks)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.writer.flush()
            await self.runs.release(running, self.owner_id)
        except Exception as exc:
            log.warning("run_release_failed", error_type=type(exc).__name__)
        await self.models.close()

    @property
    def active_runs(self) -> int:
        return len(self._tasks)

    # ------------------------------------------------------------------ starting runs

    async def start_chat(
        self,
        agent_key: str,
        message: str,
        *,
        session_id: str | None,
        user_id: str | None,
        session_visible_to: str | None = None,
    ) -> Run:
        """Create the run (and its session) and start executing it in the background.
        With `session_visible_to`, a session of any other user is not found."""
        if self._stopping:
            raise Conflict("The server is shutting down; retry on another instance")
        agent = await self.components.get_agent(agent_key)
        if session_id is not None:
            session = await self.runs.get_session(session_id)
            if session is None or (
                session_visible_to is not None and session.user_id != session_visible_to
            ):
                raise SessionNotFound(session_id)
            if session.agent_id != agent.id:
                raise Conflict(f"Session '{session_id}' belongs to another agent")
        snapshot = await take_snapshot(self.components.repo, agent)
        history = await self._history(session_id, snapshot) if session_id else []
        messages: list[Message] = []
        if snapshot.agent.system_prompt:
            messages.append(Message.system(snapshot.agent.system_prompt))
        messages.extend(history)
        state = RunState(messages=[*messages, Message.user(message)], new_from=len(messages))
        run = self._new_run(
            agent.id, agent.name, session_id or new_id("ses"), user_id, message, snapshot
        )
        await self._create_and_launch(run, snapshot, state, new_session=session_id is None)
        log.info(
            "run_created",
            run_id=run.id,
            agent_id=agent.id,
            session_id=run.session_id,
            user_id=user_id,
        )
        return run

    @staticmethod
    def _new_run(
        agent_id: str,
        agent_name: str,
        session_id: str,
        user_id: str | None,
        query: str,
        snapshot: AgentSnapshot,
        *,
        parent_run_id: str | None = None,
        checkpoint_id: str | None = None,
    ) -> Run:
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
        )

    async def _create_and_launch(
        self,
        run: Run,
        snapshot: AgentSnapshot,
        state: RunState,
        *,
        new_session: bool,
        description: str = "",
    ) -> None:
        self._starting.add(run.id)
        self.writer.create_run(new_run_rows(run, new_session=new_session, owner_id=self.owner_id))
        self.writer.save_checkpoint(
            _checkpoint_row(
                run.id,
                state,
                snapshot,
                kind="start",
                seq=0,
                status=RunStatus.PENDING,
                description=description,
            )
        )
        try:
            # stored (group commit) before anyone is told its id
            try:
                await self.writer.flush(run.id)
            except RunWriteFailed as exc:
                raise ValidationFailed(
                    f"The run could not be stored: {exc.error['message']}"
                ) from exc
            self._launch(
                run.id,
                run.session_id,
                snapshot,
                state,
                last_seq=0,
                resumed=None,
                user_id=run.user_id,
            )
        finally:
            self._starting.discard(run.id)

    def _memory_copy(
        self, snapshot: AgentSnapshot
    ) -> Callable[[str, list[dict[str, Any]]], Awaitable[None]] | None:
        memory, store = snapshot.memory, self.redis_memory
        if memory is None or memory.backend != "redis" or store is None:
            return None
        ttl = memory.ttl_seconds

        async def append(session_id: str, messages: list[dict[str, Any]]) -> None:
            await store.append(session_id, messages, ttl)

        return append

    async def _stored_history(
        self, session_id: str, memory: MemoryComponent | None
    ) -> list[Message]:
        store = self.redis_memory
        if memory is not None and memory.backend == "redis" and store is not None:
            try:
                cached = await store.read(session_id, memory.ttl_seconds)
                if cached is None:
                    cached = await self.runs.session_messages(session_id)
                    await store.fill(session_id, cached, memory.ttl_seconds)
                return [Message.model_validate(m) for m in cached]
            except Exception as exc:  # Redis trouble: the database has the history too
                log.warning("memory_redis_failed", error_type=type(exc).__name__)
        return [Message.model_validate(m) for m in await self.runs.session_messages(session_id)]

    async def forget_session(self, session_id: str) -> None:
        """A deleted session's copy in Redis goes too."""
        if self.redis_memory is not None:
            await self.redis_memory.forget(session_id)

    async def _history(self, session_id: str, snapshot: AgentSnapshot) -> list[Message]:
        """The earlier messages of the session that go to the model, by the agent's memory
        strategy (`agio.runtime.memory`), read from its backend."""
        memory = snapshot.memory
        limit = memory.max_messages if memory else self.options.default_memory_messages
        stored = await self._stored_history(session_id, memory)
        if memory is None or memory.strategy == "buffer":
            return buffer_window(stored, limit)
        if memory.strategy == "token_window":
            return token_window(stored, memory.max_tokens, limit)
        older, recent = split_for_summary(stored, limit)
        summary, upto = await self.runs.session_summary(session_id)
        if len(older) > upto:
            try:
                summary = await self._summarise(snapshot, memory, summary, older[upto:])
                await self.runs.save_summary(session_id, summary, len(older))
            except Exception as exc:  # the conversation goes on with the summary it had
                log.warning("memory_summary_failed", error_type=type(exc).__name__)
        return ([summary_message(summary)] if summary else []) + recent

    async def _summarise(
        self,
        snapshot: AgentSnapshot,
        memory: MemoryComponent,
        previous: str | None,
        messages: list[Message],
    ) -> str:
        component = snapshot.model
        if memory.summary_model:
            stored = await self.components.repo.get(memory.summary_model, "model")
            if stored is None:
                raise LookupError(f"summary model '{memory.summary_model}' is gone")
            component = ModelComponent.model_validate(stored.config)
        model = await self.models.get(await with_secrets(self.components.repo, component, "model"))
        request = ModelRequest(
            messages=summary_request(previous, messages), tools=[], temperature=0.0
        )
        parts = [
            item.content async for item in model.stream(request) if isinstance(item, TextDelta)
        ]
        text = "".join(parts).strip()
        if not text:
            raise ValueError("the summary model returned no text")
        return text

    def _launch(
        self,
        run_id: str,
        session_id: str,
        snapshot: AgentSnapshot,
        state: RunState,
        *,
        last_seq: int,
        resumed: dict[str, Any] | None,
        user_id: str | None,
    ) -> None:
        task = asyncio.create_task(
            self._execute(run_id, session_id, snapshot, state, last_seq, resumed, user_id),
            name=f"run-{run_id}",
        )
        self._tasks[run_id] = task
        self._went_live[run_id] = asyncio.Event()
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[RunOutcome]) -> None:
        for run_id, known in list(self._tasks.items()):
            if known is task:
                del self._tasks[run_id]
                self._live.pop(run_id, None)
                self._failed_early.pop(run_id, None)
                went_live = self._went_live.pop(run_id, None)
                if went_live is not None:
                    went_live.set()

    async def _execute(
        self,
        run_id: str,
        session_id: str,
        snapshot: AgentSnapshot,
        state: RunState,
        last_seq: int,
        resumed: dict[str, Any] | None,
        user_id: str | None,
    ) -> RunOutcome:
        for hook in self.on_execute:
            hook(run_id, snapshot)
        # every log line of the run carries these (the task's own copy of the context)
        with structlog.contextvars.bound_contextvars(
            run_id=run_id, agent_id=snapshot.agent_id, user_id=user_id
        ):
            try:
                live = await go_live(
                    self.components.repo,
                    snapshot,
                    self.models,
                    enable_http_request=self.options.enable_http_request_tool,
                    knowledge_tool=self.knowledge_tool,
                    tracer=self.tracer,
                )
            except asyncio.CancelledError:
                failed = self._failed_early.pop(run_id, None)
                if failed is not None:  # the writer ended it: nothing more to write
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    return RunOutcome(RunStatus.FAILED, None, {}, failed)
                if run_id in self._cancel_early:
                    return await self._cancel_unstarted(run_id, state)
                raise
            except Exception as exc:
                log.warning("run_setup_failed", error_type=type(exc).__name__)
                return await self._fail_unstarted(run_id, last_seq, exc)
            agent_run = AgentRun(
                run_id=run_id,
                session_id=session_id,
                snapshot=snapshot,
                model=live.model,
                tools=live.tools,
                writer=self.writer,
                state=state,
                last_seq=last_seq,
                max_steps_ceiling=self.options.max_steps_ceiling,
                max_tokens=self.options.max_tokens_per_run,
                tracer=self.tracer,
                on_session_messages=self._memory_copy(snapshot),
            )
            self._live[run_id] = agent_run
            self._went_live[run_id].set()
            if run_id in self._pause_early:
                self._pause_early.discard(run_id)
                agent_run.control.pause.set()
            if run_id in self._cancel_early:
                agent_run.control.cancel = True
                asyncio.current_task().cancel()  # type: ignore[union-attr]
            return await agent_run.execute(resumed=resumed)

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
        task = self._tasks.get(run_id)
        if task is None:
            return None
        return await asyncio.shield(task)

    # ------------------------------------------------------------------ control

    async def _get(self, run_id: str) -> Run:
        run = await self.runs.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    async def _wait_local(self, run_id: str) -> RunOutcome | None:
        task = self._tasks.get(run_id)
        if task is None:
            return None
        try:
            async with asyncio.timeout(self.options.control_wait_seconds):
                return await asyncio.shield(task)
        except TimeoutError:
            return None

    async def _wait_status(self, run_id: str, wanted: set[RunStatus]) -> Run:
        """Poll storage until the run reaches one of `wanted` or a terminal state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.control_wait_seconds
        while True:
            run = await self._get(run_id)
            if run.status in wanted or run.status.terminal or loop.time() > deadline:
                return run
            await asyncio.sleep(0.05)

    async def pause(self, run_id: str) -> RunStatus:
        run = await self._get(run_id)
        if not can_transition(run.status, RunStatus.PAUSED):
            raise _illegal(run, "pause")
        live = self._live.get(run_id)
        if live is not None or run_id in self._tasks:
            if live is None:  # still setting up: it pauses at its first safe point
                self._pause_early.add(run_id)
            else:
                live.control.pause.set()
            outcome = await self._wait_local(run_id)
            status = outcome.status if outcome else (await self._get(run_id)).status
        elif run.status is RunStatus.PENDING and run.owner_id is None:
            status = await self._transition_idle(run, RunStatus.PAUSED, ev.RUN_PAUSED)
        else:  # executing in another process: the durable flag reaches it
            await self.runs.set_control(run_id, "pause")
            status = (await self._wait_status(run_id, {RunStatus.PAUSED})).status
        if status.terminal:
            raise InvalidStateTransition(
                f"Cannot pause run '{run_id}': it became {status.value} before a safe point"
            )
        return status

    async def cancel(self, run_id: str) -> RunStatus:
        run = await self._get(run_id)
        if not can_transition(run.status, RunStatus.CANCELLED):
            raise _illegal(run, "cancel")
        task = self._tasks.get(run_id)
        if task is not None:
            live = self._live.get(run_id)
            if live is not None and live.outcome is not None:
                if live.outcome.status is not RunStatus.PAUSED:
                    raise InvalidStateTransition(
                        f"Cannot cancel run '{run_id}': it is {live.outcome.status.value}"
                    )
                await self._wait_local(run_id)  # it is pausing: cancel the paused run
                return await self._cancel_idle(await self._get(run_id))
            if live is not None:
                live.control.cancel = True
            else:
                self._cancel_early.add(run_id)
            task.cancel()
            outcome = await self._wait_local(run_id)
            self._cancel_early.discard(run_id)
            return outcome.status if outcome else (await self._get(run_id)).status
        if run.status is RunStatus.PAUSED or run.owner_id is None:
            return await self._cancel_idle(run)
        await self.runs.set_control(run_id, "cancel")
        return (await self._wait_status(run_id, {RunStatus.CANCELLED})).status

    async def _cancel_idle(self, run: Run) -> RunStatus:
        """Cancel a run nobody executes; like any cancelled run, it keeps what it had
        streamed as its `response_content` (from its latest checkpoint and the log)."""
        return await self._transition_idle(
            run, RunStatus.CANCELLED, ev.RUN_CANCELLED, ended_at=utcnow(), with_response=True
        )

    async def _transition_idle(
        self,
        run: Run,
        target: RunStatus,
        event_type: str,
        *,
        with_response: bool = False,
        **values: Any,
    ) -> RunStatus:
        """A state change of a run that no process executes, with its event; with
        `with_response`, its `response_content` becomes what it had streamed (read at the
        same point of its log that the change is conditional on)."""
        for _ in range(5):
            seq = await self.runs.max_seq(run.id)
            run.last_seq = seq
            if with_response:
                checkpoint = await self.runs.latest_checkpoint(run.id)
                values["response_content"] = (
                    None
                    if checkpoint is None
                    else (await self._state_after(run.id, checkpoint)).response_so_far()
                )
            event = Event(run.id, seq + 1, event_type, utcnow(), {"run_id": run.id})
            if await self.runs.transition(run, target, event, **values):
                await self.bus.publish(run.id, [event])
                return target
            run = await self._get(run.id)
            if not can_transition(run.status, target):
                raise _illegal(run, ACTIONS[target])
        raise Conflict(f"Run '{run.id}' keeps changing; retry")

    async def resume(self, run_id: str) -> RunStatus:
        run = await self._get(run_id)
        if run.status is not RunStatus.PAUSED:
            raise _illegal(run, "resume")
        checkpoint = await self.runs.latest_checkpoint(run_id)
        if checkpoint is None:
            raise Conflict(f"Run '{run_id}' has no checkpoint to resume from")
        self._starting.add(run_id)
        try:
            if not await self.runs.claim(run, self.owner_id, recovery=False):
                raise InvalidStateTransition(
                    f"Run '{run_id}' was resumed or changed by another request"
                )
            await self._continue(run, checkpoint, {"checkpoint_id": checkpoint.id})
        finally:
            self._starting.discard(run_id)
        return RunStatus.RUNNING

    async def _continue(
        self,
        run: Run,
        checkpoint: Checkpoint,
        resumed: dict[str, Any],
        *,
        state: RunState | None = None,
    ) -> None:
        snapshot = AgentSnapshot.from_json(checkpoint.agent_config)
        state = state or RunState.from_json(checkpoint.state)
        last_seq = await self.runs.max_seq(run.id)
        # a run that never started (paused or orphaned while pending) starts now
        self._launch(
            run.id,
            run.session_id,
            snapshot,
            state,
            last_seq=last_seq,
            resumed=resumed if run.started_at is not None else None,
            user_id=run.user_id,
        )

    # ------------------------------------------------------------------ checkpoints

    async def create_checkpoint(self, run_id: str, description: str, tags: list[str]) -> Checkpoint:
        run = await self._get(run_id)
        went_live = self._went_live.get(run_id)
        if went_live is not None:  # still setting up here: wait until it runs
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.control_wait_seconds):
                    await went_live.wait()
        if run_id not in self._tasks:
            run = await self._get(run_id)
        live = self._live.get(run_id)
        if live is not None and live.outcome is not None:
            await self._wait_local(run_id)  # it is ending: checkpoint its final state
            live = None
            run = await self._get(run_id)
        if live is None and (run_id in self._tasks or run.owner_id is not None):
            raise Conflict(
                f"Run '{run_id}' is executing in another process (or starting); pause it "
                "first, or retry"
            )
        if live is not None:
            checkpoint_id = live.checkpoint("manual", description, tags)
            await self.writer.flush()
        else:
            latest = await self.runs.latest_checkpoint(run_id)
            if latest is None:
                raise Conflict(f"Run '{run_id}' has no state to checkpoint yet")
            for _ in range(5):
                seq = await self.runs.max_seq(run_id)
                run.last_seq = seq
                row = _checkpoint_row(
                    run_id,
                    RunState.from_json(latest.state),
                    AgentSnapshot.from_json(latest.agent_config),
                    kind="manual",
                    seq=seq,
                    status=run.status,
                    description=description,
                    tags=tags,
                )
                event = Event(
                    run_id,
                    seq + 1,
                    ev.CHECKPOINT_CREATED,
                    utcnow(),
                    {"checkpoint_id": row["id"], "step": row["step_num"]},
                )
                if await self.runs.add_checkpoint(row, run, event):
                    await self.bus.publish(run_id, [event])
                    checkpoint_id = row["id"]
                    break
                run = await self._get(run_id)
            else:
                raise Conflict(f"Run '{run_id}' keeps changing; retry")
        checkpoint = await self.runs.get_checkpoint(checkpoint_id)
        assert checkpoint is not None
        return checkpoint

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        checkpoint = await self.runs.get_checkpoint(checkpoint_id)
        if checkpoint is None:
            raise CheckpointNotFound(checkpoint_id)
        return checkpoint

    async def restore(
        self, checkpoint_id: str, *, create_new_run: bool, modified_query: str | None
    ) -> Run:
        """Run again from a checkpoint: as a new run, or the same (paused) run in place."""
        checkpoint = await self.get_checkpoint(checkpoint_id)
        source = await self._get(checkpoint.run_id)
        changes = ForkChanges(modified_query=modified_query)
        if create_new_run:
            return await self._branch(source, checkpoint, changes, "")
        if source.status is not RunStatus.PAUSED:
            raise InvalidStateTransition(
                f"Restoring run '{source.id}' in place needs it paused; it is "
                f"{source.status.value} (pause it, or restore with create_new_run: true)"
            )
        snapshot, state = await self._apply(checkpoint, changes)
        # the step in progress at the checkpoint starts over: its text is streamed again
        state.step_open = False
        state.partial_content = None
        self._starting.add(source.id)
        try:
            if not await self.runs.claim(source, self.owner_id, recovery=False):
                raise InvalidStateTransition(f"Run '{source.id}' was changed by another request")
            self.writer.supersede_steps(source.id, state.step_num)
            if modified_query is not None:
                self.writer.update_run(source.id, input_query=modified_query)
            last_seq = await self.runs.max_seq(source.id)
            # the run's latest checkpoint is now the state it continues from: a crash
            # before its next step recovers this, not the pause it was restored over
            self.writer.save_checkpoint(
                _checkpoint_row(
                    source.id,
                    state,
                    snapshot,
                    kind="restore",
                    seq=last_seq,
                    status=RunStatus.PAUSED,
                    description=f"restored from {checkpoint.id}",
                )
            )
            self._launch(
                source.id,
                source.session_id,
                snapshot,
                state,
                last_seq=last_seq,
                resumed={"checkpoint_id": checkpoint.id, "restored": True},
                user_id=source.user_id,
            )
        finally:
            self._starting.discard(source.id)
        return source

    async def fork(self, checkpoint_id: str, changes: ForkChanges, description: str) -> Run:
        """A new run from a checkpoint with changes; the source run is not touched."""
        checkpoint = await self.get_checkpoint(checkpoint_id)
        source = await self._get(checkpoint.run_id)
        return await self._branch(source, checkpoint, changes, description)

    async def _apply(
        self, checkpoint: Checkpoint, changes: ForkChanges
    ) -> tuple[AgentSnapshot, RunState]:
        snapshot = AgentSnapshot.from_json(checkpoint.agent_config)
        state = RunState.from_json(checkpoint.state)
        if changes.modified_query is not None:
            # the conversation goes back to its last user message, which is replaced: what
            # answered the old question (model calls, tool calls) is not kept
            users = [i for i, m in enumerate(state.messages) if m.role == "user"]
            if not users:
                raise ValidationFailed("The checkpoint has no user message to modify")
            state.rewind_to(users[-1])
            state.messages[users[-1]] = Message.user(changes.modified_query)
        agent = snapshot.agent
        updates: dict[str, Any] = {}
        config = agent.config.model_copy()
        if changes.temperature is not None:
            config.temperature = changes.temperature
        if changes.max_steps is not None:
            config.max_steps = changes.max_steps
        updates["config"] = config
        if changes.system_prompt is not None:
            updates["system_prompt"] = changes.system_prompt
            if state.messages and state.messages[0].role == "system":
                state.messages[0] = Message.system(changes.system_prompt)
            else:
                state.messages.insert(0, Message.system(changes.system_prompt))
                state.new_from += 1
        if changes.model is not None:
            stored = await self.components.repo.get(changes.model, "model")
            if stored is None or stored.name != changes.model:
                raise ValidationFailed(
                    f"Model component '{changes.model}' does not exist",
                    details=[
                        {
                            "loc": ["body", "modifications", "model"],
                            "msg": f"model component '{changes.model}' does not exist",
                            "type": "invalid_config",
                        }
                    ],
                )
            snapshot.model = ModelComponent.model_validate(stored.config)
            updates["model"] = changes.model
        snapshot.agent = agent.model_copy(update=updates)
        if changes.messages:
            if state.phase == "tools":
                raise ValidationFailed(
                    "Messages can only be added at a checkpoint between a "
                    "model answer and the next model call"
                )
            state.messages.extend(changes.messages)
            state.phase = "llm"
        if changes != ForkChanges() and state.phase == "done":
            state.phase = "llm"  # a changed conversation asks the model again
        return snapshot, state

    async def _branch(
        self, source: Run, checkpoint: Checkpoint, changes: ForkChanges, description: str
    ) -> Run:
        snapshot, state = await self._apply(checkpoint, changes)
        # the branch gets a session of its own holding the whole conversation so far
        state.new_from = 1 if state.messages and state.messages[0].role == "system" else 0
        state.step_open = False
        state.partial_content = None
        query = next(
            (m.content or "" for m in reversed(state.messages) if m.role == "user"),
            source.input_query,
        )
        run = self._new_run(
            source.agent_id,
            source.agent_name,
            new_id("ses"),
            source.user_id,
            query,
            snapshot,
            parent_run_id=source.id,
            checkpoint_id=checkpoint.id,
        )
        await self._create_and_launch(
            run, snapshot, state, new_session=True, description=description
        )
        log.info(
            "run_branched", run_id=run.id, parent_run_id=source.id, checkpoint_id=checkpoint.id
        )
        return run

    # ------------------------------------------------------------------ ownership

    async def _maintain(self) -> None:
        heartbeat_every = max(0.05, self.options.lease_seconds / 3)
        poll = max(0.02, min(self.options.control_poll_seconds, heartbeat_every))
        since_heartbeat = 0.0
        while True:
            await asyncio.sleep(poll)
            since_heartbeat += poll
            try:
                if self._tasks:
                    await self._apply_controls()
                if since_heartbeat >= heartbeat_every:
                    since_heartbeat = 0.0
                    await self._heartbeat()
                    await self.recover()
            except Exception as exc:
                log.warning("run_maintenance_failed", error_type=type(exc).__name__)

    def stop_fenced(self, run_ids: set[str]) -> None:
        """The writer dropped writes for these runs: another process owns them now. Stop
        this process's copies at once, writing nothing more (`RunWriter.on_fenced`)."""
        for run_id in run_ids:
            task = self._tasks.get(run_id)
            if task is not None and not task.done():
                log.warning("run_lease_lost", run_id=run_id, noticed_by="writer")
                task.cancel()

    def stop_failed(self, errors: dict[str, dict[str, Any]]) -> None:
        """The writer could not store these runs' writes and ended them `failed`
        (`RunWriter.on_write_failed`): stop them at once, with that outcome."""
        for run_id, error in errors.items():
            task = self._tasks.get(run_id)
            if task is None or task.done():
                continue
            live = self._live.get(run_id)
            if live is not None:
                live.storage_failed(error)
            else:
                self._failed_early[run_id] = error
            task.cancel()

    async def _heartbeat(self) -> None:
        """Renew the leases; a run whose lease another process took over (this process was
        too slow to heartbeat) is stopped here at once, so that two never execute it."""
        mine = [r for r in self._tasks if r not in self._starting]
        kept = await self.runs.heartbeat(self.owner_id, mine)
        for run_id in set(mine) - kept:
            task = self._tasks.get(run_id)
            if task is not None:
                log.warning("run_lease_lost", run_id=run_id)
                task.cancel()

    async def _apply_controls(self) -> None:
        """Durable pause/cancel requests made through another process."""
        for run_id, control in (await self.runs.controls_for(self.owner_id)).items():
            live = self._live.get(run_id)
            if live is None or live.outcome is not None:
                continue
            if control == "pause":
                live.control.pause.set()
            elif control == "cancel" and not live.control.cancel:
                live.control.cancel = True
                task = self._tasks.get(run_id)
                if task is not None:
                    task.cancel()

    async def recover(self) -> int:
        """Continue (or fail, as configured) unfinished runs whose process stopped.

        Returns how many were handled. A run recovered `max_recoveries` times already is
        failed with `RecoveryLimitExceeded` instead.
        """
        stale_before = utcnow() - timedelta(seconds=self.options.lease_seconds)
        count = 0
        for run in await self.runs.orphaned_runs(stale_before):
            if run.id in self._tasks or run.id in self._starting:
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
                continue
            if not await self.runs.claim(
                run, self.owner_id, recovery=True, stale_before=stale_before
            ):
                continue
            self._starting.add(run.id)
            # a pause or cancel asked of the dead owner is applied now, not lost
            if run.control == "cancel":
                self._cancel_early.add(run.id)
            elif run.control == "pause":
                self._pause_early.add(run.id)
            try:
                checkpoint = await self.runs.latest_checkpoint(run.id)
                if checkpoint is None:
                    continue
                state = await self._state_after(run.id, checkpoint)
                self.writer.supersede_steps(run.id, checkpoint.step_num)
                await self._continue(
                    run,
                    checkpoint,
                    {"checkpoint_id": checkpoint.id, "reason": "recovered"},
                    state=state,
                )
            finally:
                self._starting.discard(run.id)
            count += 1
            log.warning(
                "run_recovered",
                run_id=run.id,
                checkpoint_id=checkpoint.id,
                recovery=run.recovery_count + 1,
            )
        return count

    async def _state_after(self, run_id: str, checkpoint: Checkpoint) -> RunState:
        """The checkpoint's state plus what the event log recorded after it: tool calls
        that finished (never run twice) and text already streamed (not shown twice)."""
        state = RunState.from_json(checkpoint.state)
        events = await self.runs.events_after(run_id, checkpoint.seq, limit=100_000)
        next_step = state.step_num + 1
        anchor: int | None = None
        if state.step_open:  # a pause inside a step: the step began before the checkpoint
            anchor = checkpoint.seq
        else:
            started = [
                e.seq
                for e in events
                if e.type == ev.STEP_STARTED and e.data.get("step") == next_step
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
                elif e.type == ev.ERROR and e.data.get("error", {}).get("type") == (
                    "StreamRestarted"
                ):
                    streamed = ""  # the client was told; the text streams again from here
            state.partial_content = streamed or None
        if state.phase == "tools":
            pending = {c.id: c for c in state.pending_tool_calls}
            known = {r.call_id for r in state.completed_tool_results}
            for event in events:
                call_id = event.data.get("call_id")
                if (
                    event.type == ev.TOOL_CALL_COMPLETED
                    and call_id in pending
                    and (call_id not in known)
                ):
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
        return state
