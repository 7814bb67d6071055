"""One model call of a run: the request from the run's state, the answer streamed into
`content_delta` events as it comes (after an interruption, without what the client
already has), tool calls assembled from their fragments, the step stored and
checkpointed. A mixin of `AgentRun`."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from agio.domain import events as ev
from agio.domain.messages import Message, ToolCall
from agio.domain.runs import Step
from agio.domain.time import utcnow
from agio.models.base import (
    Model,
    ModelError,
    ModelRequest,
    Retrying,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from agio.runtime.model_call_log import CallLog
from agio.runtime.state import RunState
from agio.runtime.steering import PauseRequested, RunParts
from agio.tools.base import tool_spec


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


class ModelStep(RunParts):
    """`_model_step` and the streaming of its text."""

    model: Model
    #: the model-call log of this execution (None: not recorded, AGIO_MODEL_CALL_LOG)
    call_log: CallLog | None = None
    #: the run's first text was emitted (in this process)
    _text_out: bool = False

    def _safe_point(self) -> None:
        if self.control.pause.is_set():
            raise PauseRequested

    async def _model_step(self) -> None:
        state = self.state
        step_num = state.step_num + 1
        if not state.step_open:
            self.emit(ev.STEP_STARTED, {"step": step_num, "type": "llm_call"})
            state.step_open = True
        agent = self.snapshot.agent
        request = ModelRequest(
            messages=list(state.messages),
            tools=[
                *(tool_spec(t) for t in self.tools.values()),
                # the client's own tools (AG-UI front-end tools), behind the agent's
                *(spec for spec in state.client_tools if spec.name not in self.tools),
            ],
            temperature=agent.config.temperature,
            max_tokens=agent.config.max_tokens,
        )
        step_started_at = utcnow()
        t0 = time.perf_counter()
        already = state.partial_content or ""  # streamed before a pause or a crash
        content: list[str] = []
        produced = ""
        calls: dict[int, _Assembling] = {}
        usage = Usage(0, 0)
        first_token: float | None = None
        retries = 0
        stream = self.model.stream(request)
        try:
            async for item in stream:
                if first_token is None and isinstance(item, TextDelta | ToolCallDelta):
                    first_token = time.perf_counter() - t0
                if isinstance(item, TextDelta):
                    if item.content:
                        content.append(item.content)
                        before = len(produced)
                        produced += item.content
                        already = self._emit_text(produced, before, already)
                        # what the client has of this call: the text streamed before an
                        # interruption until the model, repeating it, gets past it
                        state.partial_content = (
                            already if len(already) > len(produced) else produced
                        )
                        self._safe_point()
                        if not self._text_out:
                            self._text_out = True
                            if self.writer.watched(self.run_id):
                                # the run's first text reaches its stream now, stored on its
                                # own, not after the rest of the answer has been read
                                await self.writer.flush()
                    continue
                if isinstance(item, ToolCallDelta):
                    slot = calls.setdefault(item.index, _Assembling())
                    slot.id = slot.id or item.id
                    slot.name = slot.name or item.name
                    if item.arguments:
                        slot.arguments.append(item.arguments)
                elif isinstance(item, Usage):
                    usage = item
                elif isinstance(item, Retrying):
                    retries += 1
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
            if len(already) > len(produced):
                # the repeated answer stopped short of what was streamed before the
                # interruption: the client is told, and gets this answer from its start
                self._restart_stream(produced)
                state.partial_content = produced
        except BaseException as exc:
            if self.call_log is not None:  # the failed call is logged too, with why
                self.writer.save_model_call(
                    self.call_log.row(
                        step_num=step_num,
                        request=request,
                        dumped=None,
                        response=None,
                        usage=usage,
                        latency=time.perf_counter() - t0,
                        first_token=first_token,
                        retries=retries,
                        error=_call_error(exc),
                        started_at=step_started_at,
                    )
                )
            raise
        finally:
            closer = getattr(stream, "aclose", None)
            if closer is not None:  # release the model connection now, not at GC
                await closer()
        tool_calls = []
        taken = _call_ids(state)
        for index in sorted(calls):
            slot = calls[index]
            arguments, raw = _parse_arguments("".join(slot.arguments))
            call_id = _unique_id(slot.id, f"call_{step_num}_{index}", taken)
            tool_calls.append(
                ToolCall(
                    id=call_id,
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
        dumped = [m.model_dump(mode="json") for m in request.messages]
        response = assistant.model_dump(mode="json")
        if self.call_log is not None:
            self.writer.save_model_call(
                self.call_log.row(
                    step_num=step_num,
                    request=request,
                    dumped=dumped,
                    response=response,
                    usage=usage,
                    latency=duration,
                    first_token=first_token,
                    retries=retries,
                    error=None,
                    started_at=step_started_at,
                )
            )
        self.writer.save_step(
            Step(
                run_id=self.run_id,
                step_num=step_num,
                type="llm_call",
                messages=dumped,
                model_response=response,
                tool_calls=[],
                metrics=step_metrics,
                started_at=step_started_at,
                ended_at=utcnow(),
            )
        )
        self.emit(ev.STEP_COMPLETED, {"step": step_num, "metrics": step_metrics})
        state.messages.append(assistant)
        state.step_num = step_num
        state.llm_calls += 1
        state.step_open = False
        state.partial_content = None
        if tool_calls:
            state.phase = "tools"
            state.pending_tool_calls = tool_calls
            state.completed_tool_results = []
        else:
            state.phase = "done"
        self.checkpoint("step")

    def _emit_text(self, produced: str, before: int, already: str) -> str:
        """Emit the new text of a model call; after a pause or a crash, skip what the client
        already has (`already`) as long as the model repeats it. Returns what is still to
        skip."""
        if not already:
            self.emit(ev.CONTENT_DELTA, {"content": produced[before:]})
            return ""
        if already.startswith(produced) or produced.startswith(already):
            start = max(before, len(already))
            if len(produced) > start:
                self.emit(ev.CONTENT_DELTA, {"content": produced[start:]})
            return already
        self._restart_stream(produced)
        return ""

    def _restart_stream(self, produced: str) -> None:
        self.emit(
            ev.ERROR,
            {
                "run_id": self.run_id,
                "error": {
                    "type": "StreamRestarted",
                    "message": "the model's answer differs from the part streamed before the "
                    "interruption; it is streamed again from the start",
                },
            },
        )
        if produced:
            self.emit(ev.CONTENT_DELTA, {"content": produced})


def _call_error(exc: BaseException) -> dict[str, Any]:
    """Why a model call ended without an answer, for its log: a model's own error as the
    run reports it (its message holds no key), else only what stopped it."""
    if isinstance(exc, ModelError):
        return {"type": exc.type, "message": exc.message}
    if isinstance(exc, PauseRequested):
        return {"type": "Paused", "message": "the run was paused during the call"}
    if isinstance(exc, asyncio.CancelledError):
        return {"type": "Cancelled", "message": "the call was stopped (cancel, shutdown)"}
    return {"type": type(exc).__name__, "message": "the call stopped with an error"}


def _call_ids(state: RunState) -> set[str]:
    """The tool call ids this run has used: its calls' approvals and events are keyed by
    them, so a new call must not reuse one (also of calls a restore went back over)."""
    taken = set(state.retired_call_ids)
    for message in state.messages[state.new_from :]:
        taken.update(call.id for call in message.tool_calls)
    return taken


def _unique_id(given: str | None, fallback: str, taken: set[str]) -> str:
    """The provider's call id, unless the run used it already (some providers number
    their calls afresh in every answer): then one of the run's own, as deterministic."""
    call_id = given or fallback
    if call_id in taken:
        call_id = fallback
        n = 1
        while call_id in taken:
            n += 1
            call_id = f"{fallback}_{n}"
    taken.add(call_id)
    return call_id
