"""Spans as wrappers: a model and a tool that trace their own calls.

`InstrumentedModel` wraps a `Model` and opens a `chat {model}` CLIENT span per `stream`
call (GenAI attributes: provider, request model, temperature, max tokens, input and
output tokens from the `Usage` event, finish reasons from whether tool-call deltas came).
`InstrumentedTool` wraps a `Tool` and opens an `execute_tool {name}` span per call. The
runtime applies them (`go_live`) only when tracing is on; the agent loop calls plain
`model.stream(...)` and `tool.run(...)` and holds no span code for them.

Spans start as children of the span current where the call is made (the loop's step
span). An error is the wrapped object's own exception: a consumer that stops reading a
model stream early (a pause at a safe point, or the loop failing on its side) closes the
stream, which ends the span without an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from opentelemetry import trace

from agio.config.components import ModelComponent
from agio.models.base import Model, ModelEvent, ModelRequest, ToolCallDelta, Usage
from agio.tools.base import Tool, current_tool_call_id

#: the longest error text put in a span's status
_STATUS_CHARS = 200


class InstrumentedModel:
    """A `Model` whose every `stream` call is a `chat` span."""

    def __init__(self, model: Model, tracer: trace.Tracer, component: ModelComponent) -> None:
        self.wrapped = model
        self.name = model.name
        self.tracer = tracer
        self.component = component

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        return self._stream(request)

    async def _stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        component = self.component
        span = self.tracer.start_span(
            f"chat {component.model}",
            kind=trace.SpanKind.CLIENT,
            attributes=_without_none(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": component.provider,
                    "gen_ai.request.model": component.model,
                    "gen_ai.request.temperature": request.temperature,
                    "gen_ai.request.max_tokens": request.max_tokens,
                    "agio.model.component": component.name,
                }
            ),
        )
        usage = Usage(0, 0)
        tool_calls = False
        inner = self.wrapped.stream(request)
        try:
            async for item in inner:
                if isinstance(item, Usage):
                    usage = item
                elif isinstance(item, ToolCallDelta):
                    tool_calls = True
                yield item
        except Exception as exc:  # the model's own failure (GeneratorExit is no Exception)
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
            raise
        finally:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
            span.set_attribute(
                "gen_ai.response.finish_reasons", ["tool_calls" if tool_calls else "stop"]
            )
            span.end()
            closer = getattr(inner, "aclose", None)
            if closer is not None:  # release the model connection now, not at GC
                await closer()


class InstrumentedTool:
    """A `Tool` whose every `run` is an `execute_tool` span (current while it runs, so what
    the tool traces nests under it). A raised error marks the span; so does a call cut
    short by a cancellation (its timeout, or the run's cancel)."""

    def __init__(self, tool: Tool, tracer: trace.Tracer) -> None:
        self.wrapped = tool
        self.tracer = tracer
        self.name = tool.name
        self.description = tool.description
        self.parameters = tool.parameters
        self.timeout = tool.timeout

    async def run(self, arguments: dict[str, Any]) -> Any:
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": self.name}
        call_id = current_tool_call_id.get()
        if call_id is not None:
            attributes["gen_ai.tool.call.id"] = call_id
        with self.tracer.start_as_current_span(
            f"execute_tool {self.name}",
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                return await self.wrapped.run(arguments)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(
                    trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:_STATUS_CHARS]
                )
                raise
            except asyncio.CancelledError:
                span.set_status(
                    trace.StatusCode.ERROR, "cancelled (the tool's timeout or the run's cancel)"
                )
                raise


def instrument_tools(tools: dict[str, Tool], tracer: trace.Tracer) -> dict[str, Tool]:
    return {name: InstrumentedTool(tool, tracer) for name, tool in tools.items()}


def _without_none(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
