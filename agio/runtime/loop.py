"""The agent loop: model call → tool calls (in parallel, bounded) → again, until the model
answers without tools or `max_steps` model calls are spent. Every event gets the run's
next `seq` and goes to the `RunWriter` (stored, then published)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from agio.domain import events as ev
from agio.domain.events import Event
from agio.domain.messages import Message, ToolCall
from agio.domain.runs import RunMetrics, RunStatus, Step
from agio.domain.time import iso_z, utcnow
from agio.models.base import (
    Model,
    ModelError,
    ModelRequest,
    Retrying,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from agio.runtime.snapshot import AgentSnapshot
from agio.storage.writer import RunWriter
from agio.tools.base import Tool, ToolError, tool_spec

log = structlog.get_logger("agio.run")


@dataclass
class RunOutcome:
    status: RunStatus
    response: str | None
    metrics: dict[str, Any]
    error: dict[str, Any] | None = None


@dataclass
class _Assembling:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


def _parse_arguments(text: str) -> tuple[dict[str, Any], str | None]:
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except ValueError:
        return {}, text
    return (value, None) if isinstance(value, dict) else ({}, text)


def _result_text(result: Any) -> str:
    return (
        result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
    )


class AgentRun:
    """Executes one run. Owns the run's `seq` counter: nobody else writes its events."""

    def __init__(
        self,
        *,
        run_id: str,
        session_id: str,
        snapshot: AgentSnapshot,
        model: Model,
        tools: dict[str, Tool],
        writer: RunWriter,
        history: list[Message],
        query: str,
        last_seq: int = 0,
    ) -> None:
        self.run_id = run_id
        self.session_id = session_id
        self.snapshot = snapshot
        self.model = model
        self.tools = tools
        self.writer = writer
        self.history = history
        self.query = query
        self.seq = last_seq
        self.metrics = RunMetrics()
        self.new_messages: list[Message] = []
        self.log = log.bind(run_id=run_id, agent_id=snapshot.agent_id, session_id=session_id)

    # ------------------------------------------------------------------ events

    def emit(self, type_: str, data: dict[str, Any]) -> Event:
        self.seq += 1
        event = Event(run_id=self.run_id, seq=self.seq, type=type_, timestamp=utcnow(), data=data)
        self.writer.append(event)
        return event

    # ------------------------------------------------------------------ the loop

    async def execute(self) -> RunOutcome:
        started = time.perf_counter()
        now = utcnow()
        agent = self.snapshot.agent
        self.writer.update_run(
            self.run_id, status=RunStatus.RUNNING.value, started_at=now, heartbeat_at=now
        )
        self.emit(
            ev.RUN_STARTED,
            {
                "run_id": self.run_id,
                "agent_id": self.snapshot.agent_id,
                "session_id": self.session_id,
                "timestamp": iso_z(now),
            },
        )
        messages: list[Message] = []
        if agent.system_prompt:
            messages.append(Message.system(agent.system_prompt))
        messages.extend(self.history)
        user = Message.user(self.query)
        messages.append(user)
        self.new_messages.append(user)
        specs = [tool_spec(t) for t in self.tools.values()]
        temperature = agent.config.temperature
        max_tokens = agent.config.max_tokens
        llm_calls = 0
        step_num = 0
        try:
            while True:
                if llm_calls >= agent.config.max_steps:
                    return await self._fail(
                        started,
                        "MaxStepsExceeded",
                        f"The agent used all {agent.config.max_steps} model calls "
                        "(config.max_steps) without giving a final answer",
                    )
                llm_calls += 1
                step_num += 1
                request = ModelRequest(
                    messages=list(messages),
                    tools=specs,
                    temperature=temperature,
                    max_tokens=max_tokens,
                )
                assistant = await self._model_step(step_num, request)
                messages.append(assistant)
                self.new_messages.append(assistant)
                if not assistant.tool_calls:
                    return await self._complete(started, assistant.content or "")
                step_num += 1
                results = await self._tool_step(step_num, assistant.tool_calls)
                messages.extend(results)
                self.new_messages.extend(results)
        except ModelError as exc:
            return await self._fail(started, exc.type, exc.message)
        except asyncio.CancelledError:
            await self._interrupted(started)
            raise
        except Exception:
            self.log.exception("run_crashed")
            return await self._fail(
                started,
                "InternalError",
                "The run failed unexpectedly; the server log has the details "
                f"under run_id={self.run_id}",
            )

    async def _model_step(self, step_num: int, request: ModelRequest) -> Message:
        self.emit(ev.STEP_STARTED, {"step": step_num, "type": "llm_call"})
        step_started_at = utcnow()
        t0 = time.perf_counter()
        content: list[str] = []
        calls: dict[int, _Assembling] = {}
        usage = Usage(0, 0)
        async for item in self.model.stream(request):
            if isinstance(item, TextDelta):
                if item.content:
                    content.append(item.content)
                    self.emit(ev.CONTENT_DELTA, {"content": item.content})
            elif isinstance(item, ToolCallDelta):
                slot = calls.setdefault(item.index, _Assembling())
                slot.id = slot.id or item.id
                slot.name = slot.name or item.name
                if item.arguments:
                    slot.arguments.append(item.arguments)
            elif isinstance(item, Usage):
                usage = item
            elif isinstance(item, Retrying):
                self.emit(
                    ev.ERROR,
                    {
                        "run_id": self.run_id,
                        "error": {
                            "type": "ModelRetry",
                            "message": f"attempt {item.attempt} failed ({item.reason}); "
                            f"retrying in {item.delay:.2f}s",
                        },
                    },
                )
        tool_calls = []
        for index in sorted(calls):
            slot = calls[index]
            arguments, raw = _parse_arguments("".join(slot.arguments))
            tool_calls.append(
                ToolCall(
                    id=slot.id or f"call_{step_num}_{index}",
                    name=slot.name or "",
                    arguments=arguments,
                    raw_arguments=raw,
                )
            )
        text = "".join(content)
        assistant = Message.assistant(text or None, tool_calls)
        duration = time.perf_counter() - t0
        self.metrics.prompt_tokens += usage.prompt_tokens
        self.metrics.completion_tokens += usage.completion_tokens
        self.metrics.total_steps += 1
        step_metrics = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "duration": round(duration, 6),
        }
        self.writer.save_step(
            Step(
                run_id=self.run_id,
                step_num=step_num,
                type="llm_call",
                messages=[m.model_dump(mode="json") for m in request.messages],
                model_response=assistant.model_dump(mode="json"),
                tool_calls=[],
                metrics=step_metrics,
                started_at=step_started_at,
                ended_at=utcnow(),
            )
        )
        self.emit(ev.STEP_COMPLETED, {"step": step_num, "metrics": step_metrics})
        return assistant

    async def _tool_step(self, step_num: int, calls: list[ToolCall]) -> list[Message]:
        self.emit(ev.STEP_STARTED, {"step": step_num, "type": "tool_call"})
        step_started_at = utcnow()
        t0 = time.perf_counter()
        limit = asyncio.Semaphore(self.snapshot.agent.config.max_parallel_tool_calls)
        records: list[dict[str, Any]] = [{} for _ in calls]

        async def one(index: int, call: ToolCall) -> None:
            async with limit:
                self.emit(
                    ev.TOOL_CALL_STARTED,
                    {"tool": call.name, "args": call.arguments, "call_id": call.id},
                )
                c0 = time.perf_counter()
                result, error = await self._call_tool(call)
                duration = round(time.perf_counter() - c0, 6)
                data: dict[str, Any] = {
                    "tool": call.name,
                    "result": result,
                    "call_id": call.id,
                    "duration": duration,
                }
                if error is not None:
                    data["error"] = error
                self.emit(ev.TOOL_CALL_COMPLETED, data)
                records[index] = {
                    "call_id": call.id,
                    "tool": call.name,
                    "args": call.arguments,
                    "result": result,
                    "error": error,
                    "duration": duration,
                }

        await asyncio.gather(*(one(i, c) for i, c in enumerate(calls)))
        errors = sum(1 for r in records if r["error"] is not None)
        self.metrics.total_steps += 1
        self.metrics.tool_calls += len(calls)
        self.metrics.tool_errors += errors
        results = [
            Message.tool(call, _result_text({"error": r["error"]} if r["error"] else r["result"]))
            for call, r in zip(calls, records, strict=True)
        ]
        step_metrics = {
            "tool_calls": len(calls),
            "tool_errors": errors,
            "duration": round(time.perf_counter() - t0, 6),
        }
        self.writer.save_step(
            Step(
                run_id=self.run_id,
                step_num=step_num,
                type="tool_call",
                messages=[m.model_dump(mode="json") for m in results],
                model_response=None,
                tool_calls=records,
                metrics=step_metrics,
                started_at=step_started_at,
                ended_at=utcnow(),
            )
        )
        self.emit(ev.STEP_COMPLETED, {"step": step_num, "metrics": step_metrics})
        return results

    async def _call_tool(self, call: ToolCall) -> tuple[Any, str | None]:
        """(result, error): a failing tool is reported to the model, never fatal."""
        tool = self.tools.get(call.name)
        if tool is None:
            available = ", ".join(sorted(self.tools)) or "none"
            return None, f"Unknown tool '{call.name}'; available tools: {available}"
        if call.raw_arguments is not None:
            return None, (f"Arguments must be a JSON object; got: {call.raw_arguments[:200]}")
        timeout = self.snapshot.agent.config.tool_timeout or tool.timeout
        try:
            async with asyncio.timeout(timeout):
                return await tool.run(call.arguments), None
        except TimeoutError:
            return None, f"Tool '{call.name}' timed out after {timeout:g}s"
        except ToolError as exc:
            return None, str(exc)
        except Exception as exc:
            self.log.warning("tool_failed", tool=call.name, error_type=type(exc).__name__)
            return None, f"Tool '{call.name}' failed: {type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------ endings

    def _final_metrics(self, started: float) -> dict[str, Any]:
        self.metrics.duration = time.perf_counter() - started
        return self.metrics.as_dict()

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
        }

    async def _complete(self, started: float, response: str) -> RunOutcome:
        metrics = self._final_metrics(started)
        self.writer.update_run(
            self.run_id, response_content=response, **self._run_values(RunStatus.COMPLETED, metrics)
        )
        self.writer.add_session_messages(
            [
                {
                    "session_id": self.session_id,
                    "run_id": self.run_id,
                    "message": m.model_dump(mode="json"),
                    "created_at": utcnow(),
                }
                for m in self.new_messages
            ]
        )
        self.emit(
            ev.RUN_COMPLETED, {"run_id": self.run_id, "response": response, "metrics": metrics}
        )
        await self.writer.flush()
        self.log.info("run_completed", **{k: metrics[k] for k in ("total_tokens", "duration")})
        return RunOutcome(RunStatus.COMPLETED, response, metrics)

    def _partial_response(self) -> str | None:
        parts = [m.content for m in self.new_messages if m.role == "assistant" and m.content]
        return "\n".join(parts) if parts else None

    async def _fail(self, started: float, type_: str, message: str) -> RunOutcome:
        metrics = self._final_metrics(started)
        error = {"type": type_, "message": message}
        self.writer.update_run(
            self.run_id,
            error=error,
            response_content=self._partial_response(),
            **self._run_values(RunStatus.FAILED, metrics),
        )
        self.emit(ev.RUN_FAILED, {"run_id": self.run_id, "error": error})
        await self.writer.flush()
        self.log.warning("run_failed", error_type=type_)
        return RunOutcome(RunStatus.FAILED, self._partial_response(), metrics, error)

    async def _interrupted(self, started: float) -> None:
        """The process is stopping under this run: record it as failed, with the reason."""
        metrics = self._final_metrics(started)
        error = {"type": "RunInterrupted", "message": "The server stopped while this run was going"}
        try:
            self.writer.update_run(
                self.run_id,
                error=error,
                response_content=self._partial_response(),
                **self._run_values(RunStatus.FAILED, metrics),
            )
            self.emit(ev.RUN_FAILED, {"run_id": self.run_id, "error": error})
        except Exception:
            self.log.warning("run_interrupt_not_recorded")
