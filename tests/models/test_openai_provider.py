"""The `openai` provider against a fake OpenAI-compatible server over real HTTP (127.0.0.1):
streaming, parallel tool calls, usage, retries, error mapping, cancellation and the
request it sends."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from agio.config.components import ModelComponent
from agio.domain.messages import Message, ToolCall, ToolSpec
from agio.models.base import (
    Model,
    ModelError,
    ModelEvent,
    ModelRequest,
    Retrying,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from agio.models.openai_provider import PLACEHOLDER_API_KEY, OpenAIModel
from tests.fakes.fixtures import fake_openai  # noqa: F401
from tests.fakes.openai_server import (
    DropConnection,
    ErrorResponse,
    FakeOpenAIServer,
    FakeToolCall,
    Hang,
    MalformedChunk,
    Stream,
    StreamText,
    StreamToolCalls,
    chunk,
)
from tests.models.loopback import LoopbackServer, sse

API_KEY = "sk-test-0123456789abcdef"
HELLO = ModelRequest(messages=[Message.user("Hello")])

MakeModel = Callable[..., OpenAIModel]


@pytest.fixture
async def make_model(fake_openai: FakeOpenAIServer) -> AsyncIterator[MakeModel]:  # noqa: F811
    """Build `OpenAIModel`s pointed at the fake server (fast backoff); closed afterwards."""
    models: list[OpenAIModel] = []

    def make(*, base_delay: float = 0.001, max_delay: float = 30.0, **fields: Any) -> OpenAIModel:
        values: dict[str, Any] = {
            "name": "gpt",
            "provider": "openai",
            "model": "fake-model",
            "base_url": fake_openai.base_url,
            "api_key": API_KEY,
            "max_retries": 2,
            "timeout": 5.0,
        }
        values.update(fields)
        model = OpenAIModel(
            ModelComponent.model_validate(values), base_delay=base_delay, max_delay=max_delay
        )
        models.append(model)
        return model

    yield make
    for model in models:
        await model.aclose()


async def collect(model: OpenAIModel, request: ModelRequest = HELLO) -> list[ModelEvent]:
    return [event async for event in model.stream(request)]


async def failure(
    model: OpenAIModel, request: ModelRequest = HELLO
) -> tuple[ModelError, list[Any]]:
    """The `ModelError` the stream ends with, and the events before it."""
    events: list[ModelEvent] = []

    async def consume() -> None:
        async for event in model.stream(request):
            events.append(event)

    with pytest.raises(ModelError) as caught:
        await consume()
    return caught.value, events


def text_of(events: list[ModelEvent]) -> str:
    return "".join(e.content for e in events if isinstance(e, TextDelta))


def assemble_calls(events: list[ModelEvent]) -> list[ToolCall]:
    """Put tool-call fragments together the way the runtime does."""
    parts: dict[int, dict[str, str]] = {}
    for event in events:
        if isinstance(event, ToolCallDelta):
            part = parts.setdefault(event.index, {"id": "", "name": "", "arguments": ""})
            part["id"] += event.id or ""
            part["name"] += event.name or ""
            part["arguments"] += event.arguments
    return [
        ToolCall(id=p["id"], name=p["name"], arguments=json.loads(p["arguments"]))
        for _, p in sorted(parts.items())
    ]


async def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------- streaming


async def test_implements_the_model_protocol(make_model: MakeModel) -> None:
    model = make_model()
    assert isinstance(model, Model)
    assert model.name == "gpt"


async def test_text_streams_in_order_before_the_server_is_done(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(StreamText(["Hel", "lo, ", "wor", "ld", "!"], delay=0.1))
    events: list[ModelEvent] = []
    started = time.monotonic()
    first_after: float | None = None
    async for event in make_model().stream(HELLO):
        if first_after is None:
            first_after = time.monotonic() - started
            # the server still has four chunks (0.1 s apart) to send
            assert not fake_openai.completions[0].finished
        events.append(event)
    total = time.monotonic() - started
    assert first_after is not None
    assert first_after < total - 0.3  # at least three chunk delays were still to come
    await wait_until(lambda: fake_openai.completions[0].finished)
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta("Hel"),
        TextDelta("lo, "),
        TextDelta("wor"),
        TextDelta("ld"),
        TextDelta("!"),
    ]
    assert events[-1] == Usage(prompt_tokens=12, completion_tokens=5)
    assert sum(isinstance(e, Usage) for e in events) == 1


async def test_parallel_tool_calls_with_split_arguments(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    weather = {"city": "Zürich", "days": 3, "units": {"temp": "C"}}
    search = {"query": 'open "quoted" text, with commas', "limit": 10}
    fake_openai.enqueue(
        StreamToolCalls(
            [
                FakeToolCall("call_1", "get_weather", json.dumps(weather)),
                FakeToolCall("call_2", "search", json.dumps(search)),
                FakeToolCall("call_3", "now", "{}"),
            ],
            content="Let me check.",
            pieces=5,
            interleave=True,
        )
    )
    events = await collect(make_model())
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    # fragments of different calls alternate, and each call's arguments came in pieces
    assert [d.index for d in deltas[:3]] == [0, 1, 2]
    assert sum(1 for d in deltas if d.index == 0 and d.arguments) == 5
    assert [d.id for d in deltas if d.id] == ["call_1", "call_2", "call_3"]
    assert text_of(events) == "Let me check."
    assert assemble_calls(events) == [
        ToolCall(id="call_1", name="get_weather", arguments=weather),
        ToolCall(id="call_2", name="search", arguments=search),
        ToolCall(id="call_3", name="now", arguments={}),
    ]
    assert events[-1] == Usage(prompt_tokens=20, completion_tokens=9)


async def test_repeated_ids_and_names_are_passed_on_once(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    """Some servers repeat `id` and `name` on every fragment of a call."""
    fragments = [
        {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": p}}
        for p in ('{"a"', ": 1", "}")
    ]
    frames: list[dict[str, Any] | str] = [chunk("fake-model", tool_calls=[f]) for f in fragments]
    fake_openai.enqueue(Stream(frames))
    events = await collect(make_model())
    assert events == [
        ToolCallDelta(index=0, id="c1", name="f", arguments='{"a"'),
        ToolCallDelta(index=0, arguments=": 1"),
        ToolCallDelta(index=0, arguments="}"),
    ]
    assert assemble_calls(events) == [ToolCall(id="c1", name="f", arguments={"a": 1})]


async def test_no_usage_when_the_server_reports_none(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(StreamText(["Hi"], usage=None))
    assert await collect(make_model()) == [TextDelta("Hi")]


# --------------------------------------------------------------------- what is sent


async def test_request_body_and_headers(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(StreamText(["ok"]))
    good = ToolCall(id="call_a", name="lookup", arguments={"q": "x", "n": 2})
    bad = ToolCall(id="call_b", name="lookup", raw_arguments="{not json")
    request = ModelRequest(
        messages=[
            Message.system("Be brief."),
            Message.user("Find x."),
            Message.assistant(None, [good, bad]),
            Message.tool(good, '{"found": true}'),
            Message.tool(bad, "error: arguments are not valid JSON"),
            Message.assistant("Found it."),
        ],
        tools=[
            ToolSpec(
                name="lookup",
                description="Look something up.",
                parameters={"type": "object", "properties": {"q": {"type": "string"}}},
            )
        ],
        temperature=0.2,
        max_tokens=77,
    )
    model = make_model(model="my-model-1", temperature=1.5, max_tokens=500)
    await collect(model, request)

    (sent,) = fake_openai.completions
    assert sent.authorization == f"Bearer {API_KEY}"
    body = sent.body
    assert body["model"] == "my-model-1"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.2  # the request wins over the component
    assert body["max_tokens"] == 77
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Find x."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "x", "n": 2}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": "{not json"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": '{"found": true}'},
        {
            "role": "tool",
            "tool_call_id": "call_b",
            "content": "error: arguments are not valid JSON",
        },
        {"role": "assistant", "content": "Found it."},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look something up.",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ]


async def test_component_defaults_and_no_api_key(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(StreamText(["ok"]), StreamText(["ok"]))
    await collect(make_model(api_key=None, temperature=0.7, max_tokens=64))
    await collect(make_model(api_key=None))
    first, second = fake_openai.completions
    assert first.authorization == f"Bearer {PLACEHOLDER_API_KEY}"
    assert first.body["temperature"] == 0.7
    assert first.body["max_tokens"] == 64
    assert "tools" not in first.body
    assert "temperature" not in second.body
    assert "max_tokens" not in second.body


def text_frame(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"delta": {"content": text}}]}).encode() + b"\n\n"


async def collect_from(base_url: str) -> list[ModelEvent]:
    """One call of a model built from its component alone (its own client)."""
    component = ModelComponent.model_validate(
        {"name": "gpt", "provider": "openai", "model": "m", "base_url": base_url}
    )
    model = OpenAIModel(component)
    try:
        return await collect(model)
    finally:
        await model.aclose()


async def test_a_compressed_stream_is_decompressed() -> None:
    body = gzip.compress(text_frame("packed") + b"data: [DONE]\n\n")
    answer = sse([body[:20], body[20:]], header=b"content-encoding: gzip")
    async with LoopbackServer(answer) as server:
        assert await collect_from(server.url("/v1")) == [TextDelta("packed")]
    assert server.requests[0].target == "/v1/chat/completions"


async def test_a_proxy_named_by_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client the model builds honours `HTTP_PROXY` as httpx does (its own transport
    is kept then): the request goes to the proxy, for a host only the proxy could reach."""
    async with LoopbackServer(sse([text_frame("via proxy")])) as proxy:
        for name in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy.url(""))
        for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        assert await collect_from("http://model.invalid/v1") == [TextDelta("via proxy")]
    assert [r.target for r in proxy.requests] == ["http://model.invalid/v1/chat/completions"]


# --------------------------------------------------------------------- retries


async def test_rate_limited_then_success(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(
        ErrorResponse(429, "Rate limit reached", type="rate_limit_exceeded", retry_after="0.2"),
        StreamText(["fine"]),
    )
    started = time.monotonic()
    events = await collect(make_model())
    elapsed = time.monotonic() - started
    retrying = [e for e in events if isinstance(e, Retrying)]
    assert len(retrying) == 1
    assert retrying[0].attempt == 1
    assert retrying[0].delay == pytest.approx(0.2)  # the server's Retry-After
    assert "429" in retrying[0].reason
    assert "Rate limit reached" in retrying[0].reason
    assert events.index(retrying[0]) == 0
    assert text_of(events) == "fine"
    assert len(fake_openai.completions) == 2
    assert elapsed >= 0.2


async def test_retry_after_is_capped(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(ErrorResponse(429, retry_after="3600"), StreamText(["ok"]))
    events = await collect(make_model(max_delay=0.05))
    assert [e.delay for e in events if isinstance(e, Retrying)] == [0.05]


async def test_server_errors_exhaust_retries(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(*[ErrorResponse(500, "The server had an error")] * 3)
    error, events = await failure(make_model(max_retries=2, base_delay=0.01))
    assert error.type == "ModelUnavailable"
    assert error.retryable
    assert "HTTP 500" in error.message
    assert "The server had an error" in error.message
    assert "3 attempts" in error.message
    assert [e.attempt for e in events if isinstance(e, Retrying)] == [1, 2]
    # exponential backoff with jitter: each delay within [base/2, base] · 2^(n-1)
    first, second = (e.delay for e in events if isinstance(e, Retrying))
    assert 0.005 <= first <= 0.01
    assert 0.01 <= second <= 0.02
    assert len(fake_openai.completions) == 3


async def test_unauthorized_is_not_retried_and_hides_the_key(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(
        ErrorResponse(401, f"Incorrect API key provided: {API_KEY}", type="invalid_request_error"),
        StreamText(["never"]),
    )
    error, events = await failure(make_model())
    assert error.type == "ModelAuthError"
    assert not error.retryable
    assert "HTTP 401" in error.message
    assert "Incorrect API key provided" in error.message
    assert API_KEY not in str(error)
    assert API_KEY not in error.message
    assert events == []
    assert len(fake_openai.completions) == 1


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "ModelBadRequest"), (403, "ModelAuthError"), (404, "ModelBadRequest")],
)
async def test_client_errors_are_not_retried(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
    status: int,
    kind: str,
) -> None:
    fake_openai.enqueue(ErrorResponse(status, "The model `nope` does not exist"))
    error, _ = await failure(make_model())
    assert error.type == kind
    assert f"HTTP {status}" in error.message
    assert "does not exist" in error.message
    assert len(fake_openai.completions) == 1


async def test_non_json_error_body(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(ErrorResponse(502, raw_body="<html>Bad Gateway</html>"))
    error, _ = await failure(make_model(max_retries=0))
    assert error.type == "ModelUnavailable"
    assert "HTTP 502" in error.message
    assert "Bad Gateway" in error.message


async def test_timeout_after_retries(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(Hang(5), Hang(5))
    started = time.monotonic()
    error, events = await failure(make_model(timeout=0.3, max_retries=1))
    assert time.monotonic() - started < 2
    assert error.type == "ModelTimeout"
    assert "0.3 s" in error.message
    assert len([e for e in events if isinstance(e, Retrying)]) == 1
    assert len(fake_openai.completions) == 2
    await wait_until(lambda: all(r.disconnected for r in fake_openai.completions))


async def test_unreachable_server(make_model: MakeModel) -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error, events = await failure(make_model(base_url=f"http://127.0.0.1:{port}/v1"))
    assert error.type == "ModelUnavailable"
    assert len([e for e in events if isinstance(e, Retrying)]) == 2


async def test_connection_dropped_before_any_delta_is_retried(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(DropConnection([]), StreamText(["second try"]))
    events = await collect(make_model())
    assert isinstance(events[0], Retrying)
    assert text_of(events) == "second try"
    assert len(fake_openai.completions) == 2


# --------------------------------------------------------------------- broken streams


async def test_malformed_chunk(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(MalformedChunk(before=["Hi"]), StreamText(["never"]))
    error, events = await failure(make_model())
    assert error.type == "ModelMalformedResponse"
    assert events == [TextDelta("Hi")]
    assert len(fake_openai.completions) == 1


async def test_malformed_first_chunk_is_not_retried(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(MalformedChunk(), StreamText(["never"]))
    error, events = await failure(make_model())
    assert error.type == "ModelMalformedResponse"
    assert events == []
    assert len(fake_openai.completions) == 1


async def test_error_after_the_first_delta_is_not_retried(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(DropConnection(["Hel", "lo"]), StreamText(["never"]))
    error, events = await failure(make_model())
    assert error.type == "ModelStreamError"
    assert events == [TextDelta("Hel"), TextDelta("lo")]
    assert len(fake_openai.completions) == 1
    assert fake_openai.pending == 1


async def test_error_event_in_the_stream(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    frames: list[dict[str, Any] | str] = [
        chunk("fake-model", content="Par"),
        {"error": {"message": "The model is overloaded", "type": "server_error"}},
    ]
    fake_openai.enqueue(Stream(frames))
    error, events = await failure(make_model())
    assert error.type == "ModelStreamError"
    assert "The model is overloaded" in error.message
    assert events == [TextDelta("Par")]


async def test_empty_stream_is_malformed(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(Stream([]))
    error, _ = await failure(make_model())
    assert error.type == "ModelMalformedResponse"


# --------------------------------------------------------------------- cancellation


async def test_cancellation_stops_promptly_and_closes_the_stream(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(StreamText([f"{n} " for n in range(50)], delay=0.1))
    model = make_model()
    first = asyncio.Event()
    received: list[ModelEvent] = []

    async def consume() -> None:
        async for event in model.stream(HELLO):
            received.append(event)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.5  # the server had 5 s of chunks left
    assert len(received) < 10
    # the HTTP response was closed: the server sees the client go away mid-stream
    await wait_until(lambda: fake_openai.completions[0].disconnected)
    assert not fake_openai.completions[0].finished


async def test_abandoned_stream_is_closed(
    make_model: MakeModel,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(StreamText([f"{n} " for n in range(50)], delay=0.05))
    stream = make_model().stream(HELLO)
    assert isinstance(await anext(stream), TextDelta)
    await stream.aclose()  # type: ignore[attr-defined]
    await wait_until(lambda: fake_openai.completions[0].disconnected)


# --------------------------------------------------------------------- the fake itself


async def test_fake_server_lists_models_and_answers_without_streaming(
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    fake_openai.enqueue(StreamText(["a", "b"]))
    async with httpx.AsyncClient(base_url=fake_openai.base_url) as client:
        models = (await client.get("/models")).json()
        completion = (
            await client.post("/chat/completions", json={"model": "m", "messages": []})
        ).json()
    assert [m["id"] for m in models["data"]] == ["fake-model", "fake-model-large"]
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "ab"}
    assert [r.path for r in fake_openai.requests] == ["/v1/models", "/v1/chat/completions"]
