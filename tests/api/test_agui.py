"""`POST /api/agui/{agent_id}` (SPEC §18): every event of a run parses as the
`ag-ui-protocol` package's `Event`; a plain answer, a server tool, a front-end tool handed
back to the client and its result continuing the thread; bad input refused before any
stream. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    Event,
    EventType,
    RunAgentInput,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    ToolCallArgsEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from httpx_sse import EventSource
from pydantic import TypeAdapter

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import add_user, start_client

EVENTS: TypeAdapter[Any] = TypeAdapter(Event)

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city, as the user's browser knows it.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _model(name: str, responses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "model",
        "name": name,
        "provider": "scripted",
        "model": "scripted",
        "chunk_size": 4,
        "responses": responses,
    }


COMPONENTS = [
    _model("agui_plain_model", [{"content": "Hello from Agio, over AG-UI."}]),
    {"type": "agent", "name": "agui_plain", "model": "agui_plain_model"},
    _model(
        "agui_calc_model",
        [
            {
                "content": "Let me compute.",
                "tool_calls": [{"name": "calculator", "arguments": {"expression": "(2 + 3) * 4"}}],
            },
            {"content": "(2 + 3) * 4 = 20"},
        ],
    ),
    {"type": "agent", "name": "agui_calc", "model": "agui_calc_model", "tools": ["calculator"]},
    _model(
        "agui_front_model",
        [
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
            {"content": "It is sunny in Paris."},
        ],
    ),
    {"type": "agent", "name": "agui_front", "model": "agui_front_model"},
    _model(
        "agui_mixed_model",
        [
            {
                "content": "Both at once.",
                "tool_calls": [
                    {"name": "calculator", "arguments": {"expression": "6 * 7"}},
                    {"name": "get_weather", "arguments": {"city": "Oslo"}},
                ],
            },
            {"content": "42, and snow in Oslo."},
        ],
    ),
    {"type": "agent", "name": "agui_mixed", "model": "agui_mixed_model", "tools": ["calculator"]},
]


@pytest.fixture
async def client(
    settings: Settings, add_components: Callable[[str, list[dict[str, Any]]], None]
) -> AsyncIterator[httpx.AsyncClient]:
    add_components("agui.yaml", COMPONENTS)
    client, lifespan = await start_client(create_app(settings))
    try:
        yield client
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


def run_input(
    messages: list[dict[str, Any]], *, thread_id: str | None = None, **more: Any
) -> dict[str, Any]:
    """A `RunAgentInput` as an AG-UI client sends it (camelCase), checked by the package."""
    body = {
        "threadId": thread_id or f"thread-{uuid.uuid4()}",
        "runId": f"run-{uuid.uuid4()}",
        "messages": messages,
        "tools": [],
        "context": [],
        "state": {},
        "forwardedProps": {},
        **more,
    }
    RunAgentInput.model_validate(body)
    return body


def user(text: str) -> dict[str, Any]:
    return {"id": f"u-{uuid.uuid4()}", "role": "user", "content": text}


async def run_agent(
    client: httpx.AsyncClient, agent: str, body: dict[str, Any]
) -> tuple[httpx.Response, list[BaseEvent]]:
    """The response and its events, each parsed by the `ag-ui-protocol` package."""
    async with client.stream("POST", f"/api/agui/{agent}", json=body) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [EVENTS.validate_json(sse.data) async for sse in EventSource(response).aiter_sse()]
    return response, events


def types(events: list[BaseEvent]) -> list[EventType]:
    return [e.type for e in events]


def text_of(events: list[BaseEvent]) -> str:
    return "".join(e.delta for e in events if isinstance(e, TextMessageContentEvent))


def check_frame(events: list[BaseEvent], body: dict[str, Any]) -> RunFinishedEvent:
    """Started and finished with the input's ids; every text message and step closed."""
    started, finished = events[0], events[-1]
    assert isinstance(started, RunStartedEvent)
    assert (started.thread_id, started.run_id) == (body["threadId"], body["runId"])
    assert isinstance(finished, RunFinishedEvent)
    assert (finished.thread_id, finished.run_id) == (body["threadId"], body["runId"])
    kinds = types(events)
    assert kinds.count(EventType.TEXT_MESSAGE_START) == kinds.count(EventType.TEXT_MESSAGE_END)
    assert kinds.count(EventType.STEP_STARTED) == kinds.count(EventType.STEP_FINISHED) > 0
    assert kinds.count(EventType.TOOL_CALL_START) == kinds.count(EventType.TOOL_CALL_END)
    return finished


async def agio_run(client: httpx.AsyncClient, response: httpx.Response) -> dict[str, Any]:
    run = await client.get(f"/api/runs/{response.headers['X-Run-ID']}")
    assert run.status_code == 200, run.text
    detail: dict[str, Any] = run.json()
    return detail


async def test_a_plain_answer_streams_as_ag_ui_events(client: httpx.AsyncClient) -> None:
    body = run_input([user("Hi")])
    response, events = await run_agent(client, "agui_plain", body)
    finished = check_frame(events, body)
    assert types(events) == [
        EventType.RUN_STARTED,
        EventType.CUSTOM,
        EventType.STEP_STARTED,
        EventType.TEXT_MESSAGE_START,
        *[EventType.TEXT_MESSAGE_CONTENT] * 7,  # "Hello from Agio, over AG-UI." by 4
        EventType.TEXT_MESSAGE_END,
        EventType.STEP_FINISHED,
        EventType.RUN_FINISHED,
    ]
    assert text_of(events) == "Hello from Agio, over AG-UI."
    assert finished.result == "Hello from Agio, over AG-UI."
    assert finished.outcome is not None
    assert finished.outcome.type == "success"
    assert not getattr(finished.outcome, "pending_tool_call_ids", None)
    assert finished.usage
    assert finished.usage[0].total_tokens
    custom = events[1]
    assert isinstance(custom, CustomEvent)
    assert custom.name == "agio.run"
    assert custom.value == {
        "run_id": response.headers["X-Run-ID"],
        "session_id": response.headers["X-Session-ID"],
    }
    run = await agio_run(client, response)  # an Agio run like any other
    assert run["status"] == "completed"
    assert run["response_content"] == "Hello from Agio, over AG-UI."
    assert run["session_id"] == response.headers["X-Session-ID"]


async def test_a_server_tool_appears_with_its_result(client: httpx.AsyncClient) -> None:
    body = run_input([user("What is (2 + 3) * 4?")], tools=[WEATHER_TOOL])
    _, events = await run_agent(client, "agui_calc", body)
    check_frame(events, body)
    start = next(e for e in events if isinstance(e, ToolCallStartEvent))
    assert start.tool_call_name == "calculator"
    args = next(e for e in events if isinstance(e, ToolCallArgsEvent))
    assert json.loads(args.delta) == {"expression": "(2 + 3) * 4"}
    result = next(e for e in events if isinstance(e, ToolCallResultEvent))
    assert result.tool_call_id == start.tool_call_id
    assert "20" in str(result.content)
    # the tool call belongs to the assistant message whose text came before it
    first_text = next(e for e in events if isinstance(e, TextMessageContentEvent))
    assert start.parent_message_id == first_text.message_id
    kinds = types(events)
    assert kinds.index(EventType.TOOL_CALL_START) < kinds.index(EventType.TOOL_CALL_ARGS)
    assert kinds.index(EventType.TOOL_CALL_END) < kinds.index(EventType.TOOL_CALL_RESULT)
    assert text_of(events) == "Let me compute.(2 + 3) * 4 = 20"
    assert isinstance(events[-1], RunFinishedEvent)
    assert not getattr(events[-1].outcome, "pending_tool_call_ids", None)


async def test_a_front_end_tool_round_trip(client: httpx.AsyncClient) -> None:
    first = user("What is the weather in Paris?")
    body = run_input([first], tools=[WEATHER_TOOL])
    response, events = await run_agent(client, "agui_front", body)
    finished = check_frame(events, body)
    start = next(e for e in events if isinstance(e, ToolCallStartEvent))
    assert start.tool_call_name == "get_weather"
    args = next(e for e in events if isinstance(e, ToolCallArgsEvent))
    assert json.loads(args.delta) == {"city": "Paris"}
    assert EventType.TOOL_CALL_RESULT not in types(events)  # the client's to give
    assert finished.outcome is not None
    assert finished.outcome.type == "success"
    assert finished.outcome.pending_tool_call_ids == [start.tool_call_id]
    # the Agio run completed with the call pending, in a gapless log
    run = await agio_run(client, response)
    assert run["status"] == "completed"
    log = (await client.get(f"/api/runs/{run['id']}/events")).json()["events"]
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    handed = [e for e in log if e["type"] == "frontend_tool_call"]
    assert [h["data"] for h in handed] == [
        {"tool": "get_weather", "args": {"city": "Paris"}, "call_id": start.tool_call_id}
    ]
    assert log[-1]["data"]["pending_tool_call_ids"] == [start.tool_call_id]
    assert not [e for e in log if e["type"] == "tool_call_completed"]

    # the client runs the tool and posts the result on the same thread
    assistant = {
        "id": start.parent_message_id,
        "role": "assistant",
        "toolCalls": [
            {
                "id": start.tool_call_id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": args.delta},
            }
        ],
    }
    result = {
        "id": f"t-{uuid.uuid4()}",
        "role": "tool",
        "toolCallId": start.tool_call_id,
        "content": '{"sky": "sunny", "celsius": 24}',
    }
    again = run_input([first, assistant, result], thread_id=body["threadId"], tools=[WEATHER_TOOL])
    second, events = await run_agent(client, "agui_front", again)
    finished = check_frame(events, again)
    assert text_of(events) == "It is sunny in Paris."
    assert finished.result == "It is sunny in Paris."
    assert not getattr(finished.outcome, "pending_tool_call_ids", None)
    assert second.headers["X-Session-ID"] == response.headers["X-Session-ID"]
    # the model saw the call and its result
    detail = await agio_run(client, second)
    seen = detail["steps"][0]["messages"]
    assert [m["role"] for m in seen] == ["user", "assistant", "tool"]
    assert seen[1]["tool_calls"][0]["id"] == start.tool_call_id
    assert seen[2] == {
        "role": "tool",
        "content": '{"sky": "sunny", "celsius": 24}',
        "tool_calls": [],
        "tool_call_id": start.tool_call_id,
        "name": "get_weather",
    }
    history = await client.get(f"/api/sessions/{second.headers['X-Session-ID']}")
    assert history.status_code == 200, history.text


async def test_server_and_front_end_calls_of_one_turn(client: httpx.AsyncClient) -> None:
    first = user("Six times seven, and the weather in Oslo?")
    body = run_input([first], tools=[WEATHER_TOOL])
    _response, events = await run_agent(client, "agui_mixed", body)
    finished = check_frame(events, body)
    starts = [e for e in events if isinstance(e, ToolCallStartEvent)]
    assert sorted(s.tool_call_name for s in starts) == ["calculator", "get_weather"]
    results = [e for e in events if isinstance(e, ToolCallResultEvent)]
    calc = next(s for s in starts if s.tool_call_name == "calculator")
    weather = next(s for s in starts if s.tool_call_name == "get_weather")
    assert [r.tool_call_id for r in results] == [calc.tool_call_id]
    assert finished.outcome is not None
    assert finished.outcome.pending_tool_call_ids == [weather.tool_call_id]
    assert finished.result == "Both at once."
    # a new user message without the result: the model gets an error for the call
    again = run_input([first, user("Never mind.")], thread_id=body["threadId"])
    second, events = await run_agent(client, "agui_mixed", again)
    check_frame(events, again)
    seen = (await agio_run(client, second))["steps"][0]["messages"]
    assert [m["role"] for m in seen] == ["user", "assistant", "tool", "tool", "user"]
    assert [m["tool_call_id"] for m in seen[2:4]] == [calc.tool_call_id, weather.tool_call_id]
    assert "no result" in seen[3]["content"]


async def test_context_and_state_reach_the_model_for_that_run(client: httpx.AsyncClient) -> None:
    body = run_input(
        [
            {"id": "s1", "role": "system", "content": "Answer in French."},
            {"id": "a0", "role": "assistant", "content": "Bonjour! How can I help?"},
            user("Hi"),
        ],
        context=[{"description": "The user's name", "value": "Ada"}],
        state={"page": "checkout"},
    )
    response, _ = await run_agent(client, "agui_plain", body)
    seen = (await agio_run(client, response))["steps"][0]["messages"]
    system = [m["content"] for m in seen if m["role"] == "system"]
    assert system[0] == "Answer in French."
    assert "The user's name: Ada" in system[1]
    assert '{"page": "checkout"}' in system[2]
    # a new thread's earlier messages start its session; the context is not kept
    assert [m["role"] for m in seen if m["role"] != "system"] == ["assistant", "user"]
    history = (await client.get(f"/api/sessions/{response.headers['X-Session-ID']}")).json()
    kept = [m["role"] for m in history["messages"]]
    assert kept == ["assistant", "user", "assistant"]


async def test_a_thread_continues_and_can_name_an_agio_session(client: httpx.AsyncClient) -> None:
    body = run_input([user("One")])
    first, _ = await run_agent(client, "agui_plain", body)
    again = run_input([user("Two")], thread_id=body["threadId"])
    second, _ = await run_agent(client, "agui_plain", again)
    assert second.headers["X-Session-ID"] == first.headers["X-Session-ID"]
    chat = await client.post(
        "/api/chat", json={"agent_id": "agui_plain", "message": "Three", "stream": False}
    )
    session = chat.json()["session_id"]
    third, _ = await run_agent(client, "agui_plain", run_input([user("Four")], thread_id=session))
    assert third.headers["X-Session-ID"] == session
    seen = (await agio_run(client, third))["steps"][0]["messages"]
    assert [m["content"] for m in seen if m["role"] == "user"] == ["Three", "Four"]
    # another user's threads are their own, even with the same thread id
    _, headers = await add_user(client, "user")
    mine = await client.post(
        "/api/agui/agui_plain", json=run_input([user("Five")], thread_id=session), headers=headers
    )
    assert mine.status_code == 200
    assert mine.headers["X-Session-ID"] not in (session, first.headers["X-Session-ID"])


async def test_bad_input_is_refused_before_any_stream(client: httpx.AsyncClient) -> None:
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("nobody", run_input([user("Hi")]), 404, "AgentNotFound"),
        ("agui_plain", {"messages": []}, 422, "ValidationError"),
        ("agui_plain", run_input([]), 422, "ValidationError"),
        (
            "agui_plain",
            run_input([user("Hi"), {"id": "a", "role": "assistant", "content": "Hello"}]),
            422,
            "ValidationError",
        ),
        (
            "agui_plain",
            run_input([{"id": "t", "role": "tool", "toolCallId": "call_x", "content": "1"}]),
            422,
            "ValidationError",
        ),
        (
            "agui_calc",
            run_input([user("Hi")], tools=[{**WEATHER_TOOL, "name": "calculator"}]),
            422,
            "ValidationError",
        ),
        (
            "agui_plain",
            run_input([user("Hi")], tools=[{**WEATHER_TOOL, "name": "bad name!"}]),
            422,
            "ValidationError",
        ),
        (
            "agui_plain",
            run_input([user("Hi")], tools=[WEATHER_TOOL, WEATHER_TOOL]),
            422,
            "ValidationError",
        ),
        (
            "agui_plain",
            run_input(
                [
                    {
                        "id": "u",
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "url", "value": "x"}}],
                    }
                ]
            ),
            422,
            "ValidationError",
        ),
    ]
    for agent, body, status, kind in cases:
        response = await client.post(f"/api/agui/{agent}", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["type"] == kind, response.text


async def test_permissions_are_those_of_chat(client: httpx.AsyncClient) -> None:
    body = run_input([user("Hi")])
    anonymous = await client.post("/api/agui/agui_plain", json=body, headers={"X-API-Key": ""})
    assert anonymous.status_code == 401
    _, viewer = await add_user(client, "viewer")
    refused = await client.post("/api/agui/agui_plain", json=body, headers=viewer)
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "Forbidden"
