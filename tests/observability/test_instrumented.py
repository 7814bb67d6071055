"""Spans as wrappers: `InstrumentedModel` traces each model call and
`instrument_tool_calls` each tool call (with the spans the loop opened for them before
the wrappers); with tracing off nothing is wrapped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agio.config.components import AgentComponent, ModelComponent, ToolComponent
from agio.domain.runs import RunStatus
from agio.models.base import Model, ModelError, ModelEvent, ModelRequest, TextDelta, Usage
from agio.models.scripted import FunctionModel, FunctionResponse
from agio.observability.instrumented import InstrumentedModel
from agio.runtime.snapshot import AgentSnapshot, ModelCache, go_live
from agio.storage.components import ComponentRepository
from agio.tools.base import Tool, ToolError
from agio.tools.environment import ToolEnvironment
from agio.tools.function import function_tool
from tests.runtime.test_loop import MemoryWriter, make_run

COMPONENT = ModelComponent(name="m", provider="demo", model="d")


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> trace.Tracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test")


def named(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def traced_run(
    tracer: trace.Tracer, model: Model, tools: dict[str, Tool] | None = None, **config: Any
) -> tuple[Any, MemoryWriter]:
    """An AgentRun with the instrumented model, as `go_live` builds it, and a recording
    tracer (with which the loop traces its tool calls)."""
    run, writer = make_run(InstrumentedModel(model, tracer, COMPONENT), tools or {}, **config)
    run.tracer = tracer
    return run, writer


class GeneratorModel:
    """A model whose stream is the given async generator itself."""

    name = "generator"

    def __init__(self, fn: Callable[[ModelRequest], AsyncIterator[ModelEvent]]) -> None:
        self.fn = fn

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        return self.fn(request)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_a_span_per_model_call_with_usage_and_finish_reasons(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    def respond(request: ModelRequest) -> FunctionResponse:
        if request.messages[-1].role == "tool":
            return FunctionResponse(content="3")
        return FunctionResponse(tool_calls=[("add", {"a": 1, "b": 2})])

    run, writer = traced_run(
        tracer, FunctionModel(respond), {"add": function_tool(add)}, temperature=0.25
    )
    outcome = await run.execute()
    assert outcome.status is RunStatus.COMPLETED

    chats = named(exporter, "chat d")
    assert len(chats) == 2
    steps = {s.context.span_id: s for s in named(exporter, "agio.step llm_call")}
    for chat in chats:
        assert chat.kind is trace.SpanKind.CLIENT
        assert chat.parent is not None
        assert chat.parent.span_id in steps  # the step's child
        a = chat.attributes or {}
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == "demo"
        assert a["gen_ai.request.model"] == "d"
        assert a["gen_ai.request.temperature"] == 0.25
        assert a["agio.model.component"] == "m"
        assert chat.status.status_code is trace.StatusCode.UNSET
    finish = [tuple((c.attributes or {})["gen_ai.response.finish_reasons"]) for c in chats]
    assert finish == [("tool_calls",), ("stop",)]
    assert (
        sum((c.attributes or {})["gen_ai.usage.input_tokens"] for c in chats)
        == (outcome.metrics["prompt_tokens"])
    )
    assert (
        sum((c.attributes or {})["gen_ai.usage.output_tokens"] for c in chats)
        == (outcome.metrics["completion_tokens"])
    )
    assert outcome.metrics["completion_tokens"] > 0

    (tool_span,) = named(exporter, "execute_tool add")
    (started,) = [e for e in writer.events if e.type == "tool_call_started"]
    attrs = tool_span.attributes or {}
    assert attrs["gen_ai.tool.name"] == "add"
    assert attrs["gen_ai.tool.call.id"] == started.data["call_id"]
    assert tool_span.status.status_code is trace.StatusCode.UNSET
    (tool_step,) = named(exporter, "agio.step tool_call")
    assert tool_span.parent is not None
    assert tool_span.parent.span_id == tool_step.context.span_id


async def test_a_model_error_marks_its_span(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    async def respond(request: ModelRequest) -> AsyncIterator[ModelEvent]:
        yield TextDelta("partial")
        raise ModelError("upstream broke", type="ModelStreamError")

    run, _ = traced_run(tracer, FunctionModel(respond))
    outcome = await run.execute()
    assert outcome.status is RunStatus.FAILED
    (chat,) = named(exporter, "chat d")
    assert chat.status.status_code is trace.StatusCode.ERROR
    assert chat.status.description == "ModelError"
    assert [e.name for e in chat.events] == ["exception"]


async def test_a_pause_during_a_model_call_is_no_error_and_closes_the_stream(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    closed: list[bool] = []
    runs: list[Any] = []

    async def respond(request: ModelRequest) -> AsyncIterator[ModelEvent]:
        try:
            runs[0].control.pause.set()  # the loop pauses at the safe point after a delta
            yield TextDelta("first ")
            yield TextDelta("second")
            yield Usage(3, 2)
        finally:
            closed.append(True)

    run, _ = traced_run(tracer, GeneratorModel(respond))
    runs.append(run)
    outcome = await run.execute()
    assert outcome.status is RunStatus.PAUSED
    assert closed == [True]  # the wrapper closed the model's stream
    (chat,) = named(exporter, "chat d")
    assert chat.status.status_code is trace.StatusCode.UNSET
    assert chat.events == ()


@pytest.mark.parametrize(
    ("error", "description"),
    [
        (ToolError("b must not be 0"), "b must not be 0"),
        (ValueError("bad"), "Tool 'divide' failed: ValueError: bad"),
    ],
)
async def test_a_failing_tool_marks_its_span(
    tracer: trace.Tracer, exporter: InMemorySpanExporter, error: Exception, description: str
) -> None:
    def divide(a: int, b: int) -> float:
        """Divide."""
        raise error

    def respond(request: ModelRequest) -> FunctionResponse:
        if request.messages[-1].role == "tool":
            return FunctionResponse(content="cannot")
        return FunctionResponse(tool_calls=[("divide", {"a": 1, "b": 0})])

    run, writer = traced_run(tracer, FunctionModel(respond), {"divide": function_tool(divide)})
    outcome = await run.execute()
    assert outcome.status is RunStatus.COMPLETED  # a failing tool is told to the model
    (completed,) = [e for e in writer.events if e.type == "tool_call_completed"]
    assert completed.data["error"]
    (span,) = named(exporter, "execute_tool divide")
    assert span.status.status_code is trace.StatusCode.ERROR
    assert span.status.description == description


async def test_a_tool_cut_short_by_its_timeout_marks_its_span(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    async def wait_forever() -> str:
        """Never answers."""
        await asyncio.Event().wait()
        return "never"

    def respond(request: ModelRequest) -> FunctionResponse:
        if request.messages[-1].role == "tool":
            return FunctionResponse(content="gave up")
        return FunctionResponse(tool_calls=[("wait_forever", {})])

    run, writer = traced_run(
        tracer,
        FunctionModel(respond),
        {"wait_forever": function_tool(wait_forever)},
        tool_timeout=0.01,
    )
    outcome = await run.execute()
    assert outcome.status is RunStatus.COMPLETED
    (completed,) = [e for e in writer.events if e.type == "tool_call_completed"]
    assert "timed out" in completed.data["error"]
    (span,) = named(exporter, "execute_tool wait_forever")
    assert span.status.status_code is trace.StatusCode.ERROR
    assert span.status.description == "Tool 'wait_forever' timed out after 0.01s"


async def test_a_call_that_never_reaches_a_tool_has_an_error_span(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    def respond(request: ModelRequest) -> FunctionResponse:
        if request.messages[-1].role == "tool":
            return FunctionResponse(content="sorry")
        return FunctionResponse(tool_calls=[("ghost", {}), ("add", "not json")])

    run, _ = traced_run(tracer, FunctionModel(respond), {"add": function_tool(add)})
    assert (await run.execute()).status is RunStatus.COMPLETED
    (unknown,) = named(exporter, "execute_tool unknown")
    assert unknown.attributes is not None
    assert unknown.attributes["gen_ai.tool.name"] == "ghost"
    assert unknown.status.description is not None
    assert unknown.status.description.startswith("Unknown tool 'ghost'")
    (bad,) = named(exporter, "execute_tool add")
    assert bad.status.status_code is trace.StatusCode.ERROR
    assert bad.status.description is not None
    assert bad.status.description.startswith("Arguments must be a JSON object")


async def test_the_loop_itself_opens_no_model_span(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    def respond(request: ModelRequest) -> FunctionResponse:
        if request.messages[-1].role == "tool":
            return FunctionResponse(content="3")
        return FunctionResponse(tool_calls=[("add", {"a": 1, "b": 2})])

    run, _ = make_run(FunctionModel(respond), {"add": function_tool(add)})
    run.tracer = tracer
    assert (await run.execute()).status is RunStatus.COMPLETED
    names = {s.name for s in exporter.get_finished_spans()}
    # the chat span is the wrapped model's: an unwrapped one has none
    assert names == {
        "invoke_agent a",
        "agio.step llm_call",
        "agio.step tool_call",
        "execute_tool add",
    }


class NoRepository:
    """`go_live` asks the repository only for masked secrets; these components have none."""

    async def get(self, name: str, kind: str) -> None:
        raise AssertionError("no secret to look up")


def snapshot() -> AgentSnapshot:
    return AgentSnapshot(
        agent_id="agt_test",
        agent=AgentComponent(name="a", model="m", tools=["calculator"]),
        model=COMPONENT,
        tools=[ToolComponent(name="calculator", kind="builtin", builtin="calculator")],
        memory=None,
        knowledge=None,
    )


async def test_with_tracing_off_nothing_is_wrapped(tracer: trace.Tracer) -> None:
    repo = cast(ComponentRepository, NoRepository())
    cache = ModelCache()
    try:
        cached = await cache.get(COMPONENT)
        for off in (None, trace.NoOpTracer()):
            live = await go_live(repo, snapshot(), cache, tools=ToolEnvironment(), tracer=off)
            assert live.model is cached
        live = await go_live(repo, snapshot(), cache, tools=ToolEnvironment(), tracer=tracer)
        assert isinstance(live.model, InstrumentedModel)
        assert live.model.wrapped is cached
        assert live.tools["calculator"].name == "calculator"
    finally:
        await cache.close()
