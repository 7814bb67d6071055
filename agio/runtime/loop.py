"""The agent loop: model call → tool calls (in parallel, bounded) → again, until the model
answers without tools or `max_steps` model calls are spent.

Every event gets the run's next `seq` and goes to the run's `RunSink` (the server's is
the `RunWriter`: stored, then published). The loop works on a `RunState` and checkpoints
it at every step boundary, so a run can pause at a safe point and continue later, in this
process or another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace

from agio.domain import events as ev
from agio.domain.events import Event
from agio.domain.runs import RunMetrics, RunStatus
from agio.domain.time import iso_z, utcnow
from agio.models.base import (
    Model,
    ModelError,
)
from agio.runtime.approval_gate import ApprovalGate
from agio.runtime.interrupted import kept_messages, session_rows
from agio.runtime.model_call import ModelStep
from agio.runtime.model_call_log import CallLog
from agio.runtime.sink import RunSink
from agio.runtime.snapshot import AgentSnapshot
from agio.runtime.state import RunState
from agio.runtime.steering import ApprovalNeeded, ChildCaller, Control, PauseRequested
from agio.runtime.tool_step import ToolStep
from agio.storage.checkpoints import checkpoint_row
from agio.tools.base import Tool

log = structlog.get_logger("agio.run")


@dataclass
class RunOutcome:
    status: RunStatus
    response: str | None
    metrics: dict[str, Any]
    error: dict[str, Any] | None = None


class AgentRun(ModelStep, ToolStep):
    """Executes one run from a `RunState`. Owns the run's `seq` counter while it runs."""

    def __init__(
        self,
        *,
        run_id: str,
        session_id: str,
        snapshot: AgentSnapshot,
        model: Model,
        tools: dict[str, Tool],
        writer: RunSink,
        state: RunState,
        last_seq: int,
        run_status: RunStatus = RunStatus.RUNNING,
        max_steps_ceiling: int | None = None,
        max_tokens: int | None = None,
        tracer: trace.Tracer | None = None,
        on_session_messages: Callable[[str, list[dict[str, Any]]], Awaitable[None]] | None = None,
        user_id: str | None = None,
        approval_gate: ApprovalGate | None = None,
        log_model_calls: bool = False,
        children: ChildCaller | None = None,
    ) -> None:
        """`log_model_calls`: every model call goes to the model-call log as well
        (`RunSink.save_model_call`)."""
        self.run_id = run_id
        self.children = children
        self.user_id = user_id
        self.approval_gate = approval_gate
        self.tracer = tracer or trace.NoOpTracer()
        #: called with the messages a completed run adds to its session, once stored
        self.on_session_messages = on_session_messages
        #: the server's ceiling on an agent's `max_steps`, and its token budget per run
        self.max_steps_ceiling = max_steps_ceiling
        self.max_tokens = max_tokens
        self.session_id = session_id
        self.snapshot = snapshot
        self.model = model
        self.call_log = CallLog(run_id, model.name) if log_model_calls else None
        self.tools = tools
        self.writer = writer
        self.state = state
        self.seq = last_seq
        self.metrics = RunMetrics.from_dict(state.metrics)
        self.control = Control()
        self.status = run_status
        self.log = log.bind(run_id=run_id, agent_id=snapshot.agent_id, session_id=session_id)
        self._active_duration = self.metrics.duration
        self._segment_started = time.perf_counter()
        self._snapshot_json = snapshot.to_json()  # the same for every checkpoint of the run
        #: set once the run's terminal event is out: later cancels change nothing
        self.outcome: RunOutcome | None = None

    # ------------------------------------------------------------------ events

    def emit(self, type_: str, data: dict[str, Any]) -> Event:
        self.seq += 1
        event = Event(run_id=self.run_id, seq=self.seq, type=type_, timestamp=utcnow(), data=data)
        self.writer.append(event)
        return event

    def _sync_metrics(self) -> dict[str, Any]:
        self.metrics.duration = self._active_duration + time.perf_counter() - self._segment_started
        if self.state.children:
            self.metrics.children_tokens = sum(r.tokens for r in self.state.children.values())
        self.state.metrics = self.metrics.as_dict()
        return self.state.metrics

    def checkpoint(self, kind: str, description: str = "", tags: list[str] | None = None) -> str:
        """Store the current state as a checkpoint and emit `checkpoint_created`."""
        self._sync_metrics()
        row = checkpoint_row(
            self.run_id,
            self.state,
            self._snapshot_json,
            kind=kind,
            seq=self.seq,
            status=self.status,
            description=description,
            tags=tags,
        )
        checkpoint_id: str = row["id"]
        self.writer.save_checkpoint(row)
        self.emit(
            ev.CHECKPOINT_CREATED, {"checkpoint_id": checkpoint_id, "step": self.state.step_num}
        )
        return checkpoint_id

    # ------------------------------------------------------------------ the loop

    async def execute(self, *, resumed: dict[str, Any] | None = None) -> RunOutcome:
        """Run until the answer, a failure, a pause or a cancel (traced as one span: a root
        of its own, linked to whatever span started it, since a run outlives requests)."""
        agent = self.snapshot.agent
        started_by = trace.get_current_span().get_span_context()
        links = [trace.Link(started_by)] if started_by.is_valid else []
        with self.tracer.start_as_current_span(
            f"invoke_agent {agent.name}",
            context=otel_context.Context(),
            links=links,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": agent.name,
                "gen_ai.agent.id": self.snapshot.agent_id,
                "gen_ai.conversation.id": self.session_id,
                "agio.run.id": self.run_id,
                "agio.run.resumed": resumed is not None,
            },
        ) as span:
            try:
                outcome = await self._drive(resumed)
            except asyncio.CancelledError:
                if self.outcome is None:
                    raise  # the process is stopping: the run stays recoverable
                # cancelled while writing how it ended: that ending stands
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                await self.writer.flush()
                outcome = self.outcome
            span.set_attribute("agio.run.status", outcome.status.value)
            span.set_attribute("gen_ai.usage.input_tokens", self.metrics.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", self.metrics.completion_tokens)
            if outcome.status is RunStatus.FAILED:
                span.set_status(trace.StatusCode.ERROR, (outcome.error or {}).get("type", ""))
            return outcome

    async def _drive(self, resumed: dict[str, Any] | None) -> RunOutcome:
        """The loop itself. `resumed` (the `run_resumed` data) when the run continues from a
        checkpoint rather than starting."""
        now = utcnow()
        if resumed is None:
            self.writer.update_run(
                self.run_id, status=RunStatus.RUNNING.value, started_at=now, heartbeat_at=now
            )
            self.status = RunStatus.RUNNING
            self.emit(
                ev.RUN_STARTED,
                {
                    "run_id": self.run_id,
                    "agent_id": self.snapshot.agent_id,
                    "session_id": self.session_id,
                    "timestamp": iso_z(now),
                },
            )
        else:
            # no `control=None` here: the claim cleared older flags, and one set since
            # (a pause or cancel asked while it went live) must still reach it
            self.writer.update_run(self.run_id, status=RunStatus.RUNNING.value, heartbeat_at=now)
            self.status = RunStatus.RUNNING
            self.emit(ev.RUN_RESUMED, {"run_id": self.run_id, **resumed})
        agent = self.snapshot.agent
        try:
            while True:
                if self.state.phase == "tools":
                    with self._step_span("tool_call"):
                        await self._tool_step()
                    continue
                if self.state.phase == "done":
                    return await self._complete()
                self._safe_point()
                max_steps = agent.config.max_steps
                if self.max_steps_ceiling is not None:
                    max_steps = min(max_steps, self.max_steps_ceiling)
                if self.state.llm_calls >= max_steps:
                    return await self._fail(
                        "MaxStepsExceeded",
                        f"The agent used all {max_steps} model calls "
                        "(config.max_steps, capped by AGIO_MAX_STEPS_CEILING) without giving "
                        "a final answer",
                    )
                if self.max_tokens is not None and self.state.total_tokens >= self.max_tokens:
                    return await self._fail(
                        "TokenBudgetExceeded",
                        f"The run used {self.state.total_tokens} tokens, the most a run may "
                        f"use (AGIO_MAX_TOKENS_PER_RUN={self.max_tokens}), before giving a "
                        "final answer",
                    )
                with self._step_span("llm_call"):
                    await self._model_step()
        except PauseRequested:
            return await self._pause()
        except ApprovalNeeded:
            return await self._wait_for_approval()
        except ModelError as exc:
            return await self._fail(exc.type, exc.message)
        except asyncio.CancelledError:
            if not self.control.cancel and self.outcome is None:
                raise  # the process is stopping: the run stays recoverable
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            if self.outcome is not None:  # it ended first: terminal states never change
                await self.writer.flush()
                return self.outcome
            return await self._cancelled()
        except Exception:
            self.log.exception("run_crashed")
            return await self._fail(
                "InternalError",
                "The run failed unexpectedly; the server log has the details under "
                f"run_id={self.run_id}",
            )

    def storage_failed(self, error: dict[str, Any]) -> None:
        """The writer could not store this run's writes and has ended it `failed` (see
        `RunWriter.on_write_failed`): this is its outcome now, whatever it was about to
        become. The manager then cancels the task, which stops at once and writes nothing
        more (the writer drops it anyway)."""
        self.status = RunStatus.FAILED
        self.outcome = RunOutcome(
            RunStatus.FAILED, self.state.response_so_far(), self._sync_metrics(), error
        )

    def _step_span(self, kind: str) -> Any:
        # a pause ends a step by an exception; it is not an error (a failure is the run's)
        return self.tracer.start_as_current_span(
            f"agio.step {kind}",
            attributes={"agio.step.number": self.state.step_num + 1, "agio.step.type": kind},
            record_exception=False,
            set_status_on_exception=False,
        )

    # ------------------------------------------------------------------ endings

    def _run_values(self, status: RunStatus, metrics: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": status.value,
            "metrics": metrics,
            "ended_at": utcnow(),
            "prompt_tokens": metrics["prompt_tokens"],
            "completion_tokens": metrics["completion_tokens"],
            "total_tokens": metrics["total_tokens"],
            "tool_calls": metrics["tool_calls"],
            "duration": metrics["duration"],
            "owner_id": None,
            "control": None,
        }

    async def _complete(self) -> RunOutcome:
        metrics = self._sync_metrics()
        # the last answer; with calls handed back to the client, the text that came with them
        last = next((m for m in reversed(self.state.messages) if m.role == "assistant"), None)
        response = (last.content or "") if last is not None else ""
        if not self.state.handed_back and self.state.messages[-1].role != "assistant":
            response = ""
        self.status = RunStatus.COMPLETED
        new_messages = [
            m.model_dump(mode="json")
            for m in self.state.messages[self.state.new_from :]
            if m.role != "system"
        ]
        self.writer.update_run(
            self.run_id, response_content=response, **self._run_values(RunStatus.COMPLETED, metrics)
        )
        self.writer.add_session_messages(session_rows(self.session_id, self.run_id, new_messages))
        self.outcome = RunOutcome(RunStatus.COMPLETED, response, metrics)
        completed: dict[str, Any] = {
            "run_id": self.run_id,
            "response": response,
            "metrics": metrics,
        }
        if self.state.handed_back:  # the client runs these and answers them in its next input
            completed["pending_tool_call_ids"] = list(self.state.handed_back)
        self.emit(ev.RUN_COMPLETED, completed)
        await self.writer.flush()
        if self.on_session_messages is not None:  # a memory kept elsewhere (Redis)
            try:
                await self.on_session_messages(self.session_id, new_messages)
            except Exception as exc:  # the database has them: the copy is refilled from it
                self.log.warning("memory_copy_failed", error_type=type(exc).__name__)
        self.log.info(
            "run_completed", total_tokens=metrics["total_tokens"], duration=metrics["duration"]
        )
        return self.outcome

    async def _fail(self, type_: str, message: str) -> RunOutcome:
        metrics = self._sync_metrics()
        error = {"type": type_, "message": message}
        response = self.state.response_so_far()
        self.status = RunStatus.FAILED
        self.writer.update_run(
            self.run_id,
            error=error,
            response_content=response,
            **self._run_values(RunStatus.FAILED, metrics),
        )
        self.outcome = RunOutcome(RunStatus.FAILED, response, metrics, error)
        self.emit(ev.RUN_FAILED, {"run_id": self.run_id, "error": error})
        await self.writer.flush()
        self.log.warning("run_failed", error_type=type_)
        return self.outcome

    async def _cancelled(self) -> RunOutcome:
        metrics = self._sync_metrics()
        response = self.state.response_so_far()
        self.status = RunStatus.CANCELLED
        self.writer.update_run(
            self.run_id, response_content=response, **self._run_values(RunStatus.CANCELLED, metrics)
        )
        if self.control.keep_partial:  # interrupted by a new chat: what it had is kept
            self.writer.add_session_messages(
                session_rows(self.session_id, self.run_id, kept_messages(self.state))
            )
        self.outcome = RunOutcome(RunStatus.CANCELLED, response, metrics)
        self.emit(ev.RUN_CANCELLED, {"run_id": self.run_id})
        await self.writer.flush()
        self.log.info("run_cancelled")
        return self.outcome

    async def _pause(self) -> RunOutcome:
        metrics = self._sync_metrics()
        self.status = RunStatus.PAUSED
        checkpoint_id = self.checkpoint("pause")
        self.outcome = RunOutcome(RunStatus.PAUSED, self.state.response_so_far(), metrics)
        self.writer.update_run(
            self.run_id, status=RunStatus.PAUSED.value, owner_id=None, control=None, metrics=metrics
        )
        self.emit(ev.RUN_PAUSED, {"run_id": self.run_id, "checkpoint_id": checkpoint_id})
        await self.writer.flush()
        self.log.info("run_paused", checkpoint_id=checkpoint_id)
        return self.outcome

    async def _wait_for_approval(self) -> RunOutcome:
        """Some tool calls wait for a decision: checkpoint, hand the run back (no owner)
        as `waiting_approval`, and end the task. A decision continues it (anywhere)."""
        metrics = self._sync_metrics()
        self.status = RunStatus.WAITING_APPROVAL
        checkpoint_id = self.checkpoint("approval")
        self.outcome = RunOutcome(RunStatus.WAITING_APPROVAL, self.state.response_so_far(), metrics)
        self.writer.update_run(
            self.run_id,
            status=RunStatus.WAITING_APPROVAL.value,
            owner_id=None,
            control=None,
            metrics=metrics,
        )
        await self.writer.flush()
        self.log.info("run_waiting_approval", checkpoint_id=checkpoint_id)
        return self.outcome
