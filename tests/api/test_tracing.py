"""OpenTelemetry tracing: off by default; when on, spans for the HTTP request, the run, its
steps, its model calls (GenAI attributes) and its tool calls."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agio.api.app import create_app
from agio.config.settings import Settings
from agio.observability.tracing import Tracing
from tests.conftest import start_client


@pytest.fixture
def backend() -> str:
    return "sqlite"


def test_tracing_is_off_by_default(settings: Settings) -> None:
    tracing = Tracing(settings)
    assert not tracing.enabled
    assert not tracing.tracer.start_span("x").get_span_context().is_valid


async def test_a_chat_is_traced_from_request_to_tool_call(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"tracing_enabled": True, "tracing_exporter": "console"})
    )
    exporter = InMemorySpanExporter()
    client, lifespan = await start_client(app)
    try:
        provider = app.state.agio.tracing.provider
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        answer = await client.post(
            "/api/chat",
            json={"agent_id": "customer_support", "message": "What is 6 * 7?", "stream": False},
        )
        assert answer.status_code == 200
        run = (await client.get(f"/api/runs/{answer.json()['run_id']}")).json()
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    spans = exporter.get_finished_spans()
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)

    (http,) = by_name["POST /api/chat"]
    assert http.attributes is not None
    assert http.attributes["http.route"] == "/api/chat"
    assert http.attributes["http.response.status_code"] == 200

    (agent_span,) = by_name["invoke_agent customer_support"]
    attrs = agent_span.attributes or {}
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["agio.run.id"] == run["id"]
    assert attrs["gen_ai.conversation.id"] == run["session_id"]
    assert attrs["agio.run.status"] == "completed"
    assert agent_span.parent is None  # a root: the run outlives the request...
    assert agent_span.links[0].context.span_id == http.context.span_id  # ...linked to it
    assert agent_span.context.trace_id != http.context.trace_id

    steps = by_name["agio.step llm_call"] + by_name.get("agio.step tool_call", [])
    assert all(
        s.parent is not None and s.parent.span_id == agent_span.context.span_id for s in steps
    )
    model = run["agent_config"]["model"]
    chats = by_name[f"chat {model['model']}"]
    assert len(chats) == len(by_name["agio.step llm_call"]) == 2  # a tool call, then the answer
    step_ids = {s.context.span_id for s in steps}
    for chat in chats:
        assert chat.parent is not None
        assert chat.parent.span_id in step_ids
        a = chat.attributes or {}
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == model["provider"]
        assert a["gen_ai.request.model"] == model["model"]
    assert (
        sum((c.attributes or {})["gen_ai.usage.input_tokens"] for c in chats)
        == run["metrics"]["prompt_tokens"]
    )
    assert (
        sum((c.attributes or {})["gen_ai.usage.output_tokens"] for c in chats)
        == run["metrics"]["completion_tokens"]
    )
    tools = by_name["execute_tool calculator"]
    assert len(tools) == run["metrics"]["tool_calls"]
    assert (tools[0].attributes or {})["gen_ai.tool.name"] == "calculator"
    assert tools[0].parent is not None
    assert tools[0].parent.span_id in step_ids


async def test_tool_errors_mark_their_span(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"tracing_enabled": True, "tracing_exporter": "console"})
    )
    exporter = InMemorySpanExporter()
    client: httpx.AsyncClient
    client, lifespan = await start_client(app)
    try:
        app.state.agio.tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))
        answer = await client.post(
            "/api/chat",
            json={"agent_id": "customer_support", "message": "What is 1/0?", "stream": False},
        )
        assert answer.status_code == 200
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    tools = [s for s in exporter.get_finished_spans() if s.name == "execute_tool calculator"]
    assert tools
    assert tools[0].status.status_code.name == "ERROR"
