"""The RunManager: starts each run as a task owned by the server (not by the HTTP request),
keeps the runs it owns alive in storage (heartbeat), and fails runs whose process died."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

import structlog

from agio.bus.base import EventBus
from agio.domain import events as ev
from agio.domain.errors import Conflict, SessionNotFound
from agio.domain.events import Event
from agio.domain.ids import new_id
from agio.domain.messages import Message
from agio.domain.runs import Run, RunStatus
from agio.domain.time import utcnow
from agio.runtime.loop import AgentRun, RunOutcome
from agio.runtime.memory import buffer_window
from agio.runtime.snapshot import AgentSnapshot, ModelCache, go_live, take_snapshot
from agio.services.components import ComponentService
from agio.storage.runs import RunRepository, new_run_rows
from agio.storage.writer import RunWriter

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RuntimeOptions:
    lease_seconds: float = 30.0
    enable_http_request_tool: bool = False
    default_memory_messages: int = 20


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
        self.owner_id = f"proc_{uuid.uuid4().hex[:16]}"
        self._tasks: dict[str, asyncio.Task[RunOutcome]] = {}
        self._starting: set[str] = set()  # created in storage, task not yet registered
        self._maintenance: asyncio.Task[None] | None = None
        self._stopping = False
        self.models = ModelCache()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.recover()
        self._maintenance = asyncio.create_task(self._maintain(), name="agio-run-maintenance")

    async def close(self) -> None:
        """Stop: running runs are recorded as interrupted, then pending writes stored."""
        self._stopping = True
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.models.close()

    @property
    def active_runs(self) -> int:
        return len(self._tasks)

    # ------------------------------------------------------------------ starting runs

    async def start_chat(
        self, agent_key: str, message: str, *, session_id: str | None, user_id: str | None
    ) -> Run:
        """Create the run (and its session) and start executing it in the background."""
        if self._stopping:
            raise Conflict("The server is shutting down; retry on another instance")
        agent = await self.components.get_agent(agent_key)
        if session_id is not None:
            session = await self.runs.get_session(session_id)
            if session is None:
                raise SessionNotFound(session_id)
            if session.agent_id != agent.id:
                raise Conflict(f"Session '{session_id}' belongs to another agent")
        snapshot = await take_snapshot(self.components.repo, agent)
        now = utcnow()
        run = Run(
            id=new_id("run"),
            agent_id=agent.id,
            agent_name=agent.name,
            session_id=session_id or new_id("ses"),
            user_id=user_id,
            status=RunStatus.PENDING,
            input_query=message,
            response_content=None,
            error=None,
            metrics={},
            agent_config=snapshot.to_json(),
            created_at=now,
            started_at=None,
            ended_at=None,
            last_seq=0,
        )
        self._starting.add(run.id)
        try:
            self.writer.create_run(
                new_run_rows(run, new_session=session_id is None, owner_id=self.owner_id)
            )
            await self.writer.flush()  # stored (group commit) before anyone is told its id
            task = asyncio.create_task(
                self._execute(run, snapshot, new_session=session_id is None), name=f"run-{run.id}"
            )
            self._tasks[run.id] = task
        finally:
            self._starting.discard(run.id)
        task.add_done_callback(self._forget)
        log.info(
            "run_created",
            run_id=run.id,
            agent_id=agent.id,
            session_id=run.session_id,
            user_id=user_id,
        )
        return run

    def _forget(self, task: asyncio.Task[RunOutcome]) -> None:
        for run_id, known in list(self._tasks.items()):
            if known is task:
                del self._tasks[run_id]

    async def _history(
        self, run: Run, snapshot: AgentSnapshot, *, new_session: bool
    ) -> list[Message]:
        if new_session:
            return []
        limit = (
            snapshot.memory.max_messages
            if snapshot.memory
            else self.options.default_memory_messages
        )
        if limit <= 0:
            return []
        stored = await self.runs.session_messages(run.session_id)
        return buffer_window([Message.model_validate(m) for m in stored], limit)

    async def _execute(self, run: Run, snapshot: AgentSnapshot, *, new_session: bool) -> RunOutcome:
        with structlog.contextvars.bound_contextvars(
            run_id=run.id, agent_id=run.agent_id, user_id=run.user_id
        ):
            try:
                live = await go_live(
                    self.components.repo,
                    snapshot,
                    self.models,
                    enable_http_request=self.options.enable_http_request_tool,
                )
                history = await self._history(run, snapshot, new_session=new_session)
            except Exception as exc:
                log.warning("run_setup_failed", error_type=type(exc).__name__)
                return await self._fail_before_start(run, exc)
            agent_run = AgentRun(
                run_id=run.id,
                session_id=run.session_id,
                snapshot=snapshot,
                model=live.model,
                tools=live.tools,
                writer=self.writer,
                history=history,
                query=run.input_query,
                last_seq=run.last_seq,
            )
            return await agent_run.execute()

    async def _fail_before_start(self, run: Run, exc: Exception) -> RunOutcome:
        error = {"type": "RunSetupFailed", "message": f"{type(exc).__name__}: {exc}"}
        now = utcnow()
        self.writer.update_run(
            run.id,
            status=RunStatus.FAILED.value,
            error=error,
            ended_at=now,
            metrics={},
            owner_id=None,
        )
        self.writer.append(
            Event(run.id, run.last_seq + 1, ev.RUN_FAILED, now, {"run_id": run.id, "error": error})
        )
        await self.writer.flush()
        return RunOutcome(RunStatus.FAILED, None, {}, error)

    async def wait(self, run_id: str) -> RunOutcome | None:
        """Wait for a run this process executes to finish (the waiter may go away freely);
        None when the run is not executing here."""
        task = self._tasks.get(run_id)
        if task is None:
            return None
        return await asyncio.shield(task)

    # ------------------------------------------------------------------ ownership

    async def _maintain(self) -> None:
        interval = max(0.05, self.options.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.runs.heartbeat(self.owner_id, list(self._tasks))
                await self.recover()
            except Exception as exc:
                log.warning("run_maintenance_failed", error_type=type(exc).__name__)

    async def recover(self) -> int:
        """Fail unfinished runs whose owner stopped heartbeating (its process died).

        Returns how many were failed. Each gets a final `run_failed` event, so streams
        that follow it end.
        """
        stale_before = utcnow() - timedelta(seconds=self.options.lease_seconds)
        count = 0
        for run in await self.runs.orphaned_runs(stale_before, self.owner_id):
            if run.id in self._tasks or run.id in self._starting:
                continue
            error = {
                "type": "RunInterrupted",
                "message": "The process running this run stopped before it finished",
            }
            event = Event(
                run.id,
                run.last_seq + 1,
                ev.RUN_FAILED,
                utcnow(),
                {"run_id": run.id, "error": error},
            )
            if await self.runs.fail_orphan(run, event, error):
                count += 1
                await self.bus.publish(run.id, [event])
                log.warning("run_orphan_failed", run_id=run.id)
        return count
