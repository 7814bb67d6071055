"""The `anthropic` provider against a fake Anthropic-compatible Messages API over real
HTTP (127.0.0.1): the request it sends, streamed text, tool use with the input JSON split
across deltas, usage, retries before the first token, error mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agio.config.components import ModelComponent
from agio.domain.messages import Message, ToolCall, ToolSpec
from agio.models.anthropic_provider import API_VERSION, AnthropicModel, messages_url
from agio.models.base import (
    ModelError,
    ModelEvent,
    ModelRequest,
    Retrying,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from agio.models.registry import build_model
from tests.fakes.anthropic_server import (
    AnthropicError,
    AnthropicEvents,
    AnthropicText,
    AnthropicTools,
    AnthropicToolUse,
    FakeAnthropicServer,
    events_of,
)
from tests.fakes.fixtures import fake_anthropic  # noqa: F401

API_KEY = "sk-ant-test-0123456789abcdef"
HELLO = ModelRequest(messages=[Message.user("Hello")])

MakeModel = Callable[..., AnthropicModel]


@pytest.fixture
async def make_model(fake_anthropic: FakeAnthropicServer) -> AsyncIterator[MakeModel]:  # noqa: F811
    models: list[AnthropicModel] = []

    def make(**fields: Any) -> AnthropicModel:
        values: dict[str, Any] = {
            "name": "claude",
            "provider": "anthropic",
            "model": "claude-fake",
            "base_url": fake_anthropic.base_url,
            "api_key": API_KEY,
            "max_retries": 2,
            "timeout": 5.0,
        }
        values.update(fields)
        model = AnthropicModel(ModelComponent.model_validate(values), base_delay=0.001)
        models.append(model)
        return model

    yield make
    for model in models:
        await model.aclose()


async def collect(model: AnthropicModel, request: ModelRequest = HELLO) -> list[ModelEvent]:
    return [event async for event in model.stream(request)]


def test_the_registry_builds_it_and_the_url_takes_v1_once() -> None:
    component = ModelComponent(name="c", provider="anthropic", model="claude-x")
    assert isinstance(build_model(component), AnthropicModel)
    assert messages_url(None) == "https://api.anthropic.com/v1/messages"
    assert messages_url("http://h:1/") == "http://h:1/v1/messages"
    assert messages_url("http://h:1/v1") == "http://h:1/v1/messages"


async def test_streamed_text_and_usage_and_the_request_sent(
    make_model: MakeModel,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
) -> None:
    fake_anthropic.enqueue(AnthropicText(["Hel", "lo", "!"], usage=(13, 7)))
    model = make_model(temperature=0.3)
    request = ModelRequest(
        messages=[Message.system("Be brief."), Message.user("Hi")],
        tools=[
            ToolSpec(
                name="calc",
                description="Arithmetic",
                parameters={"type": "object", "properties": {"x": {"type": "string"}}},
            )
        ],
    )
    events = await collect(model, request)
    assert events == [TextDelta("Hel"), TextDelta("lo"), TextDelta("!"), Usage(13, 7)]
    sent = fake_anthropic.messages[0]
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["anthropic-version"] == API_VERSION
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": "claude-fake",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "stream": True,
        "system": "Be brief.",
        "tools": [
            {
                "name": "calc",
                "description": "Arithmetic",
                "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}},
            }
        ],
        "temperature": 0.3,
    }


async def test_tool_use_blocks_with_split_input_json_are_assembled(
    make_model: MakeModel,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
) -> None:
    fake_anthropic.enqueue(
        AnthropicTools(
            text="Let me compute.",
            calls=[
                AnthropicToolUse("toolu_a", "calc", {"expression": "6*7"}, pieces=5),
                AnthropicToolUse("toolu_b", "clock", {}, pieces=1),
            ],
            usage=(30, 12),
        )
    )
    events = await collect(make_model())
    assert events[0] == TextDelta("Let me compute.")
    calls: dict[int, dict[str, Any]] = {}
    for event in events:
        if isinstance(event, ToolCallDelta):
            slot = calls.setdefault(event.index, {"id": None, "name": None, "args": ""})
            slot["id"] = slot["id"] or event.id
            slot["name"] = slot["name"] or event.name
            slot["args"] += event.arguments
    assert len([e for e in events if isinstance(e, ToolCallDelta) and e.arguments]) >= 5
    assert {i: (c["id"], c["name"], json.loads(c["args"] or "{}")) for i, c in calls.items()} == {
        0: ("toolu_a", "calc", {"expression": "6*7"}),
        1: ("toolu_b", "clock", {}),
    }
    assert events[-1] == Usage(30, 12)


def test_history_with_tool_calls_becomes_tool_use_and_tool_result_blocks() -> None:
    from agio.models.anthropic_wire import to_wire_messages

    call_a = ToolCall(id="toolu_a", name="calc", arguments={"expression": "1+1"})
    call_b = ToolCall(id="toolu_b", name="calc", arguments={"expression": "2+2"})
    system, turns = to_wire_messages(
        [
            Message.system("One."),
            Message.user("Add"),
            Message.assistant("Sure.", [call_a, call_b]),
            Message.tool(call_a, "2"),
            Message.tool(call_b, "4"),
            Message.system("Two."),
            Message.assistant("2 and 4"),
            Message.user("Thanks"),
        ]
    )
    assert system == "One.\n\nTwo."
    assert turns == [
        {"role": "user", "content": [{"type": "text", "text": "Add"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Sure."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "calc",
                    "input": {"expression": "1+1"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_b",
                    "name": "calc",
                    "input": {"expression": "2+2"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "2"},
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "4"},
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "2 and 4"}]},
        {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
    ]


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (AnthropicError(429, "rate_limit_error", "slow down", retry_after="0"), "ModelRateLimited"),
        (AnthropicError(529, "overloaded_error", "Overloaded"), "ModelUnavailable"),
        (AnthropicError(500, "api_error", "boom"), "ModelUnavailable"),
    ],
)
async def test_transient_failures_before_the_first_token_are_retried(
    make_model: MakeModel,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
    failure: AnthropicError,
    kind: str,
) -> None:
    fake_anthropic.enqueue(failure, AnthropicText(["ok"]))
    events = await collect(make_model())
    retries = [e for e in events if isinstance(e, Retrying)]
    assert len(retries) == 1
    assert str(failure.status) in retries[0].reason
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("ok")]
    assert len(fake_anthropic.messages) == 2
    # and when every attempt fails, the run's error names the kind
    fake_anthropic.enqueue(failure, failure, failure)
    with pytest.raises(ModelError) as info:
        await collect(make_model())
    assert info.value.type == kind
    assert "gave up after 3 attempts" in info.value.message


async def test_an_overloaded_error_event_before_any_text_is_retried(
    make_model: MakeModel,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
) -> None:
    overloaded = (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    fake_anthropic.enqueue(AnthropicEvents([overloaded]), AnthropicText(["fine"]))
    events = await collect(make_model())
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("fine")]
    assert len([e for e in events if isinstance(e, Retrying)]) == 1


async def test_an_error_event_after_text_is_not_retried(
    make_model: MakeModel,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
) -> None:
    text = AnthropicText(["partial"])
    started = events_of(text)[:4]  # message_start, ping, block start, one delta
    overloaded = (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    fake_anthropic.enqueue(AnthropicEvents([*started, overloaded]))
    seen: list[ModelEvent] = []

    async def read() -> None:
        async for event in make_model().stream(HELLO):
            seen.append(event)

    with pytest.raises(ModelError) as info:
        await read()
    assert seen == [TextDelta("partial")]
    assert info.value.type == "ModelStreamError"
    assert len(fake_anthropic.messages) == 1


@pytest.mark.parametrize(("status", "kind"), [(401, "ModelAuthError"), (400, "ModelBadRequest")])
async def test_client_errors_are_final_and_never_show_the_key(
    make_model: MakeModel,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
    status: int,
    kind: str,
) -> None:
    fake_anthropic.enqueue(
        AnthropicError(status, "authentication_error", f"invalid x-api-key {API_KEY}")
    )
    with pytest.raises(ModelError) as info:
        await collect(make_model())
    assert info.value.type == kind
    assert f"HTTP {status}" in info.value.message
    assert "invalid x-api-key" in info.value.message
    assert API_KEY not in info.value.message
    assert len(fake_anthropic.messages) == 1


async def test_a_stream_without_message_stop_or_with_bad_json_fails(
    make_model: MakeModel,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
) -> None:
    fake_anthropic.enqueue(AnthropicEvents(events_of(AnthropicText(["cut"]))[:-1]))
    with pytest.raises(ModelError) as info:
        await collect(make_model())
    assert info.value.type == "ModelStreamError"
    fake_anthropic.enqueue(AnthropicEvents(["event: message_start\ndata: {nope\n\n"]))
    with pytest.raises(ModelError) as info:
        await collect(make_model())
    assert info.value.type == "ModelMalformedResponse"
