"""A run's events as AG-UI events (the `ag-ui-protocol` package's types), encoded as SSE by
its `EventEncoder`.

| Agio event | AG-UI events |
|---|---|
| `run_started` | `RUN_STARTED` (the input's `threadId` and `runId`), then `CUSTOM` `agio.run` (the Agio run and session ids) |
| `step_started` / `step_completed` | `STEP_STARTED` / `STEP_FINISHED` (`stepName`: `llm_call 1`, `tool_call 2`, …) |
| `content_delta` | `TEXT_MESSAGE_START` (first of the step), `TEXT_MESSAGE_CONTENT`; `TEXT_MESSAGE_END` as the step ends |
| `tool_call_started` | `TOOL_CALL_START`, `TOOL_CALL_ARGS` (the arguments as JSON), `TOOL_CALL_END` |
| `tool_call_completed` | `TOOL_CALL_RESULT` |
| `frontend_tool_call` | `TOOL_CALL_START`, `TOOL_CALL_ARGS`, `TOOL_CALL_END`, and no result: the client's to give |
| `run_completed` | `RUN_FINISHED`, `result` the answer, `outcome` success with `pendingToolCallIds` |
| `run_cancelled` | `RUN_FINISHED` with the `cancelled` outcome |
| `run_failed` | `RUN_ERROR` (`code` the error's type) |
| `approval_requested` / `approval_resolved`, `error` | `CUSTOM` `agio.<type>` with the event's data |

The others (`checkpoint_created`, `run_paused`, `run_resumed`) have no AG-UI form.
"""  # noqa: E501

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunFinishedSuccessOutcome,
    RunStartedEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    TokenUsage,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder

from agio.domain import events as ev
from agio.domain.events import Event

#: the Agio events passed on as `CUSTOM` events named `agio.<type>`
AS_CUSTOM = (ev.APPROVAL_REQUESTED, ev.APPROVAL_RESOLVED, ev.ERROR)


def _result_text(data: dict[str, Any]) -> str:
    if data.get("error") is not None:
        return json.dumps({"error": data["error"]}, ensure_ascii=False)
    result = data.get("result")
    if isinstance(result, str):
        return result
    return json.dumps(result, ensure_ascii=False, default=str)


class AguiTranslator:
    """Turns one run's events, in order, into AG-UI events. `thread_id` and `run_id` are
    the client's (its `RunAgentInput`'s), echoed as the protocol asks; the Agio ids go
    out in the `agio.run` custom event (and the response's headers)."""

    def __init__(self, thread_id: str, run_id: str, *, agio_run_id: str, session_id: str) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.agio_run_id = agio_run_id
        self.session_id = session_id
        self._steps: dict[int, str] = {}
        self._open_text: str | None = None  # the assistant message being streamed
        self._llm_step = 0
        self._results = 0

    def _message_id(self) -> str:
        """The id of the assistant message of the last model call (its text, the parent of
        its tool calls): unique in the thread (the run's id and the step's number)."""
        return f"msg_{self.agio_run_id}_{self._llm_step}"

    def _close_text(self, out: list[BaseEvent], ts: int) -> None:
        if self._open_text is not None:
            out.append(TextMessageEndEvent(message_id=self._open_text, timestamp=ts))
            self._open_text = None

    def _tool_call(self, data: dict[str, Any], ts: int) -> list[BaseEvent]:
        call_id = str(data["call_id"])
        return [
            ToolCallStartEvent(
                tool_call_id=call_id,
                tool_call_name=str(data["tool"]),
                parent_message_id=self._message_id(),
                timestamp=ts,
            ),
            ToolCallArgsEvent(
                tool_call_id=call_id,
                delta=json.dumps(data.get("args") or {}, ensure_ascii=False),
                timestamp=ts,
            ),
            ToolCallEndEvent(tool_call_id=call_id, timestamp=ts),
        ]

    def translate(self, event: Event) -> list[BaseEvent]:
        data, ts = event.data, int(event.timestamp.timestamp() * 1000)
        out: list[BaseEvent] = []
        kind = event.type
        if kind == ev.RUN_STARTED:
            out.append(RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id, timestamp=ts))
            out.append(
                CustomEvent(
                    name="agio.run",
                    value={"run_id": self.agio_run_id, "session_id": self.session_id},
                    timestamp=ts,
                )
            )
        elif kind == ev.STEP_STARTED:
            step, step_type = int(data["step"]), str(data.get("type", "step"))
            if step_type == "llm_call":
                self._llm_step = step
            name = f"{step_type} {step}"
            self._steps[step] = name
            out.append(StepStartedEvent(step_name=name, timestamp=ts))
        elif kind == ev.CONTENT_DELTA:
            delta = str(data.get("content") or "")
            if delta:
                if self._open_text is None:
                    self._open_text = self._message_id()
                    out.append(
                        TextMessageStartEvent(
                            message_id=self._open_text, role="assistant", timestamp=ts
                        )
                    )
                out.append(
                    TextMessageContentEvent(message_id=self._open_text, delta=delta, timestamp=ts)
                )
        elif kind == ev.STEP_COMPLETED:
            self._close_text(out, ts)
            step = int(data["step"])
            name = self._steps.pop(step, f"step {step}")
            out.append(StepFinishedEvent(step_name=name, timestamp=ts))
        elif kind in (ev.TOOL_CALL_STARTED, ev.FRONTEND_TOOL_CALL):
            self._close_text(out, ts)
            out.extend(self._tool_call(data, ts))
        elif kind == ev.TOOL_CALL_COMPLETED:
            self._results += 1
            out.append(
                ToolCallResultEvent(
                    message_id=f"msg_{self.agio_run_id}_r{self._results}",
                    tool_call_id=str(data["call_id"]),
                    content=_result_text(data),
                    role="tool",
                    timestamp=ts,
                )
            )
        elif kind in AS_CUSTOM:
            out.append(CustomEvent(name=f"agio.{kind}", value=data, timestamp=ts))
        elif kind == ev.RUN_COMPLETED:
            self._close_text(out, ts)
            out.append(self._finished(data, ts))
        elif kind == ev.RUN_CANCELLED:
            self._close_text(out, ts)
            out.append(
                RunFinishedEvent(
                    thread_id=self.thread_id,
                    run_id=self.run_id,
                    outcome=RunFinishedCancelledOutcome(),
                    timestamp=ts,
                )
            )
        elif kind == ev.RUN_FAILED:
            self._close_text(out, ts)
            error = data.get("error") or {}
            out.append(
                RunErrorEvent(
                    message=str(error.get("message", "The run failed")),
                    code=str(error.get("type", "RunFailed")),
                    timestamp=ts,
                )
            )
        return out

    def _finished(self, data: dict[str, Any], ts: int) -> RunFinishedEvent:
        metrics = data.get("metrics") or {}
        usage = TokenUsage(
            input_tokens=int(metrics.get("prompt_tokens", 0)),
            output_tokens=int(metrics.get("completion_tokens", 0)),
            total_tokens=int(metrics.get("total_tokens", 0)),
        )
        pending = [str(call_id) for call_id in data.get("pending_tool_call_ids") or []]
        return RunFinishedEvent(
            thread_id=self.thread_id,
            run_id=self.run_id,
            result=data.get("response"),
            outcome=RunFinishedSuccessOutcome(pending_tool_call_ids=pending or None),
            usage=[usage],
            timestamp=ts,
        )


async def agui_stream(
    chunks: AsyncGenerator[list[Event], None], translator: AguiTranslator
) -> AsyncIterator[str]:
    """The run's events (`RunService.follow`) as AG-UI SSE messages, one chunk per list of
    events ready together; closing it closes `chunks` (and their bus subscription)."""
    encoder = EventEncoder()
    async with aclosing(chunks):
        async for events in chunks:
            encoded = "".join(
                encoder.encode(out) for event in events for out in translator.translate(event)
            )
            if encoded:
                yield encoded
