"""Spans as wrappers: a model and a tool caller that trace their calls.

`InstrumentedModel` wraps a `Model` and opens a `chat {model}` CLIENT span per `stream`
call (GenAI attributes: provider, request model, temperature, max tokens, input and
output tokens from the `Usage` event, finish reasons from whether tool-call deltas came).
`instrument_tool_calls` wraps the loop's tool caller and opens an `execute_tool {name}`
span per call. The runtime applies them (`go_live`, `AgentRun`) only when tracing is on;
the agent loop holds no span code for model or tool calls.

Spans start as children of the span current where the call is made (the loop's step
span). An error is the wrapped object's own exception: a consumer that stops reading a
model stream early (a pause at a safe point, or the loop failing on its side) closes the
stream, which ends the span without an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from opentelemetry import trace

from agio.config.components import ModelComponent
from agio.domain.messages import ToolCall
from agio.models.base import Model, ModelEvent, ModelRequest, ToolCallDelta, Usage
from agio.tools.base import Tool

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


#: how the agent loop calls a tool: (result, error text) — a failing tool never raises
ToolCaller = Callable[[ToolCall], Awaitable[tuple[Any, str | None]]]


def instrument_tool_calls(
    call_tool: ToolCaller, tracer: trace.Tracer, tools: Mapping[str, Tool]
) -> ToolCaller:
    """`call_tool` with each call an `execute_tool {name}` span (current while it runs, so
    what the tool traces nests under it): `execute_tool unknown` for a name the agent does
    not have, error status with the loop's own error text when the call failed (the tool
    raised, timed out, or its arguments were not a JSON object)."""

    async def traced(call: ToolCall) -> tuple[Any, str | None]:
        known = call.name in tools
        with tracer.start_as_current_span(
            f"execute_tool {call.name if known else 'unknown'}",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": call.name,
                "gen_ai.tool.call.id": call.id,
            },
        ) as span:
            result, error = await call_tool(call)
            if error is not None:
                span.set_status(trace.StatusCode.ERROR, error[:_STATUS_CHARS])
            return result, error

    return traced


def tracing_on(tracer: trace.Tracer | None) -> bool:
    """Whether `tracer` makes spans (tracing on), as opposed to none or the no-op one."""
    return tracer is not None and not isinstance(tracer, trace.NoOpTracer)


def _without_none(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
