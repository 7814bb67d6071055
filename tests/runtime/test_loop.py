"""The agent loop on its own, with a function-backed model and an in-memory writer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agio.config.components import AgentComponent, ModelComponent
from agio.domain.events import Event
from agio.domain.messages import Message
from agio.domain.runs import RunStatus, Step
from agio.models.base import ModelError, ModelRequest, TextDelta, ToolCallDelta, Usage
from agio.models.scripted import FunctionModel, FunctionResponse
from agio.runtime.loop import AgentRun
from agio.runtime.memory import buffer_window
from agio.runtime.snapshot import AgentSnapshot
from agio.runtime.state import RunState
from agio.storage.checkpoints import NewCheckpoint
from agio.storage.sessions import NewSessionMessage
from agio.tools.function import function_tool


class MemoryWriter:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.steps: list[Step] = []
        self.runs: dict[str, dict[str, Any]] = {}
        self.session: list[NewSessionMessage] = []
        self.checkpoints: list[NewCheckpoint] = []
        self.flushes = 0
        self.streaming = False  # somebody follows the run (watched)

    def append(self, event: Event) -> None:
        self.events.append(event)

    def save_step(self, step: Step) -> None:
        self.steps.append(step)

    def update_run(self, run_id: str, **values: Any) -> None:
        self.runs.setdefault(run_id, {}).update(values)

    def add_session_messages(self, rows: list[NewSessionMessage]) -> None:
        self.session.extend(rows)

    def save_checkpoint(self, row: NewCheckpoint) -> None:
        self.checkpoints.append(row)

    async def flush(self, run_id: str | None = None) -> None:
        self.flushes += 1

    def watched(self, run_id: str) -> bool:
        return self.streaming


def snapshot(**config: Any) -> AgentSnapshot:
    return AgentSnapshot(
        agent_id="agt_test",
        agent=AgentComponent(name="a", model="m", config=config),
        model=ModelComponent(name="m", provider="demo", model="d"),
        tools=[],
        memory=None,
        knowledge=None,
    )


def make_run(
    model: Any, tools: dict[str, Any] | None = None, **config: Any
) -> tuple[AgentRun, MemoryWriter]:
    writer = MemoryWriter()
    run = AgentRun(
        run_id="run_1",
        session_id="ses_1",
        snapshot=snapshot(**config),
        model=model,
        tools=tools or {},
        writer=writer,
        state=RunState(messages=[Message.user("go")], new_from=0),
        last_seq=0,
    )
    return run, writer


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_invalid_json_arguments_go_back_to_the_model() -> None:
    def respond(request: ModelRequest) -> FunctionResponse:
        if request.messages[-1].role == "tool":
            return FunctionResponse(content=f"saw: {request.messages[-1].content}")
        return FunctionResponse(
            tool_calls=[("add", "{not json"), ("add", "[1, 2]"), ("add", {"a": "x", "b": 2})]
        )

    run, writer = make_run(FunctionModel(respond), {"add": function_tool(add)})
    outcome = await run.execute()
    assert outcome.status is RunStatus.COMPLETED
    completed = [e.data for e in writer.events if e.type == "tool_call_completed"]
    assert "must be a JSON object" in completed[0]["error"]
    assert "{not json" in completed[0]["error"]
    assert "must be a JSON object" in completed[1]["error"]
    assert completed[2]["error"]  # validation of the arguments failed
    assert outcome.metrics["tool_errors"] == 3


async def test_parallel_tool_calls_are_bounded_and_ordered() -> None:
    running = 0
    peak = 0

    async def sleepy(n: int) -> int:
        """Sleep a little and return n."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return n

    def respond(request: ModelRequest) -> FunctionResponse:
        if request.messages[-1].role == "tool":
            return FunctionResponse(content="done")
        return FunctionResponse(tool_calls=[("sleepy", {"n": i}) for i in range(6)])

    run, writer = make_run(
        FunctionModel(respond), {"sleepy": function_tool(sleepy)}, max_parallel_tool_calls=2
    )
    outcome = await run.execute()
    assert outcome.status is RunStatus.COMPLETED
    assert peak == 2
    tool_step = writer.steps[1]
    assert [r["result"] for r in tool_step.tool_calls] == list(range(6))


async def test_streamed_tool_call_fragments_are_assembled() -> None:
    async def respond(request: ModelRequest) -> Any:
        if request.messages[-1].role == "tool":
            yield TextDelta("sum ")
            yield TextDelta("done")
            yield Usage(10, 2)
            return
        yield ToolCallDelta(index=0, id="c0", name="add", arguments='{"a": ')
        yield ToolCallDelta(index=1, id="c1", name="add", arguments='{"a": 10,')
        yield ToolCallDelta(index=0, arguments='1, "b": 2}')
        yield ToolCallDelta(index=1, arguments=' "b": 20}')
        yield Usage(5, 3)

    run, writer = make_run(FunctionModel(respond), {"add": function_tool(add)})
    outcome = await run.execute()
    assert outcome.response == "sum done"
    results = {
        e.data["call_id"]: e.data["result"]
        for e in writer.events
        if e.type == "tool_call_completed"
    }
    assert results == {"c0": 3, "c1": 30}
    assert outcome.metrics["prompt_tokens"] == 15
    assert outcome.metrics["completion_tokens"] == 5
    assert [e.seq for e in writer.events] == list(range(1, len(writer.events) + 1))
    assert writer.runs["run_1"]["status"] == "completed"
    assert [r["message"]["role"] for r in writer.session] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
    ]


async def test_model_error_fails_the_run_with_its_type() -> None:
    async def respond(request: ModelRequest) -> Any:
        yield TextDelta("partial")
        raise ModelError("upstream broke", type="ModelStreamError")

    run, writer = make_run(FunctionModel(respond))
    outcome = await run.execute()
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == {"type": "ModelStreamError", "message": "upstream broke"}
    assert writer.events[-1].type == "run_failed"
    assert writer.session == []  # only completed runs join the session's memory


def test_buffer_window_never_splits_tool_calls() -> None:
    history = [
        Message.user("q1"),
        Message.assistant("a1"),
        Message.user("q2"),
        Message.assistant(None),
        Message(role="tool", content="r", tool_call_id="c"),
        Message.assistant("a2"),
    ]
    assert [m.content for m in buffer_window(history, 10)] == [m.content for m in history]
    assert [m.role for m in buffer_window(history, 3)] == []  # would start at a tool result
    assert [m.content for m in buffer_window(history, 4)] == ["q2", None, "r", "a2"]
    assert buffer_window(history, 0) == []


def resumed_run(model: Any, streamed: str) -> tuple[AgentRun, MemoryWriter]:
    """A run resumed in the middle of a model call that had streamed `streamed`."""
    run, writer = make_run(model)
    run.state.partial_content = streamed
    run.state.step_open = True
    return run, writer


def deltas(writer: MemoryWriter) -> list[str]:
    return [e.data["content"] for e in writer.events if e.type == "content_delta"]


async def test_a_repeated_answer_streams_only_what_the_client_lacks() -> None:
    model = FunctionModel(lambda request: FunctionResponse("Hello there, friend.", chunk_size=4))
    run, writer = resumed_run(model, "Hello ther")
    outcome = await run.execute()
    assert outcome.response == "Hello there, friend."
    assert "Hello ther" + "".join(deltas(writer)) == "Hello there, friend."
    assert not any(e.type == "error" for e in writer.events)


async def test_a_repeated_answer_that_stops_short_is_streamed_again() -> None:
    """Shorter than what was streamed before: the client is told, then gets it whole."""
    model = FunctionModel(lambda request: FunctionResponse("Hello", chunk_size=2))
    run, writer = resumed_run(model, "Hello there, fr")
    outcome = await run.execute()
    assert outcome.response == "Hello"
    errors = [e.data["error"]["type"] for e in writer.events if e.type == "error"]
    assert errors == ["StreamRestarted"]
    assert deltas(writer) == ["Hello"]


class _CountingWriter(MemoryWriter):
    """Records, at each flush, how many text deltas had been emitted."""

    def __init__(self) -> None:
        super().__init__()
        self.deltas_at_flush: list[int] = []

    async def flush(self, run_id: str | None = None) -> None:
        self.deltas_at_flush.append(len(deltas(self)))
        await super().flush(run_id)


@pytest.mark.parametrize("streaming", [True, False])
async def test_a_followed_run_stores_its_first_text_on_its_own(streaming: bool) -> None:
    """Time to first token: with a stream following the run, its first delta is stored
    (and so published) before the rest of the answer is read; without one, nothing waits."""
    model = FunctionModel(lambda request: FunctionResponse("One two three four.", chunk_size=4))
    run, _ = make_run(model)
    writer = _CountingWriter()
    writer.streaming = streaming
    run.writer = writer
    outcome = await run.execute()
    assert outcome.status is RunStatus.COMPLETED
    assert len(deltas(writer)) == 5
    assert (1 in writer.deltas_at_flush) is streaming
    assert writer.deltas_at_flush.count(1) <= 1
