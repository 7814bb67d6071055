"""Memory strategies: over HTTP, with a model that records what it is sent, each strategy
sends exactly the expected earlier messages of the session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from agio.domain.messages import Message, ToolCall
from agio.models.base import ModelRequest
from agio.models.scripted import FunctionModel, FunctionResponse
from agio.runtime.memory import message_tokens, token_window
from tests.conftest import start_client

SYSTEM = "You remember."


def _components(memory: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "type": "model",
            "name": "mem_model",
            "provider": "scripted",
            "model": "s",
            "responses": [{"content": "unused"}],
        },
        {
            "type": "model",
            "name": "sum_model",
            "provider": "scripted",
            "model": "s",
            "responses": [{"content": "unused"}],
        },
        {"type": "tool", "name": "calculator", "kind": "builtin", "builtin": "calculator"},
        {"type": "memory", "name": "mem", **memory},
        {
            "type": "agent",
            "name": "mem_agent",
            "model": "mem_model",
            "tools": ["calculator"],
            "memory": "mem",
            "system_prompt": SYSTEM,
        },
    ]


class Recorder:
    """Answers turn by turn: "calc" asks for the calculator first; the summary model
    answers with a summary of what it was given."""

    def __init__(self) -> None:
        self.agent = FunctionModel(self.answer, "mem_model")
        self.summaries: list[ModelRequest] = []
        self.summariser = FunctionModel(self.summarise, "sum_model")

    def answer(self, request: ModelRequest) -> FunctionResponse:
        last = request.messages[-1]
        if last.role == "user" and "calc" in (last.content or ""):
            return FunctionResponse(tool_calls=[("calculator", {"expression": "2+3"})])
        if last.role == "tool":
            return FunctionResponse(content=f"result {last.content}")
        return FunctionResponse(content=f"answer to {last.content}")

    def summarise(self, request: ModelRequest) -> FunctionResponse:
        self.summaries.append(request)
        return FunctionResponse(content=f"SUMMARY#{len(self.summaries)}")


async def _session(
    app: FastAPI, turns: list[str], recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> list[Message]:
    """Chat `turns` in one session; the messages the agent's model got on the last turn."""
    client, lifespan = await start_client(app)
    cache = app.state.agio.run_manager.models

    async def get(component: Any) -> Any:
        return recorder.summariser if component.name == "sum_model" else recorder.agent

    monkeypatch.setattr(cache, "get", get)
    try:
        session = None
        for text in turns:
            body: dict[str, Any] = {"agent_id": "mem_agent", "message": text, "stream": False}
            if session:
                body["session_id"] = session
            answer = await client.post("/api/chat", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "completed", answer.json()
            session = answer.json()["session_id"]
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    first_call_of_last_turn = [
        r for r in recorder.agent.requests if r.messages[-1].content == turns[-1]
    ][-1]
    return first_call_of_last_turn.messages


def _shape(messages: list[Message]) -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in messages]


TURNS = ["one", "calc please", "three", "four", "five"]


def _history() -> list[tuple[str, str | None]]:
    """What a session holds after TURNS[:-1], in order."""
    return [
        ("user", "one"),
        ("assistant", "answer to one"),
        ("user", "calc please"),
        ("assistant", None),  # the tool call
        ("tool", '{"expression": "2+3", "result": 5}'),
        ("assistant", 'result {"expression": "2+3", "result": 5}'),
        ("user", "three"),
        ("assistant", "answer to three"),
        ("user", "four"),
        ("assistant", "answer to four"),
    ]


@pytest.fixture
def make_app(
    make_settings: Callable[..., Any],
    database_url: str,
    configs_dir: Any,
    add_components: Callable[[str, list[dict[str, Any]]], None],
) -> Callable[[dict[str, Any]], FastAPI]:
    from agio.api.app import create_app

    def make(memory: dict[str, Any]) -> FastAPI:
        add_components("mem.yaml", _components(memory))
        return create_app(make_settings(database_url=database_url, configs_dir=configs_dir))

    return make


async def test_buffer_sends_the_last_n_messages_from_a_user_turn(
    make_app: Callable[[dict[str, Any]], FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = await _session(
        make_app({"strategy": "buffer", "max_messages": 5}), TURNS, Recorder(), monkeypatch
    )
    # the last 5 would start at the tool result: the window starts at the next user turn
    assert _shape(sent) == [("system", SYSTEM), *_history()[-4:], ("user", "five")]


async def test_token_window_fits_the_budget_and_keeps_tool_calls_whole(
    make_app: Callable[[dict[str, Any]], FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    history = _history()
    as_messages = [Message(role=r, content=c) for r, c in history]  # type: ignore[arg-type]
    # the budget that fits the last six messages exactly (tool call, result, and on)
    tail = as_messages[3:]
    tail[0] = Message.assistant(
        None, [ToolCall(id="x", name="calculator", arguments={"expression": "2+3"})]
    )
    budget = sum(message_tokens(m) for m in tail) + 2
    sent = await _session(
        make_app({"strategy": "token_window", "max_tokens": budget, "max_messages": 100}),
        TURNS,
        Recorder(),
        monkeypatch,
    )
    # the window may not start inside the calculator turn: it starts at the next user turn
    assert _shape(sent) == [("system", SYSTEM), *history[6:], ("user", "five")]
    # with a budget one token too small for the whole calc turn, the same; with a large
    # one, everything
    everything = token_window(as_messages, 10_000, 100)
    assert _shape(everything) == history


def test_token_window_never_splits_a_call_from_its_result() -> None:
    call = Message.assistant(None, [ToolCall(id="c1", name="calc", arguments={"x": 1})])
    result = Message(role="tool", content="2", tool_call_id="c1", name="calc")
    history = [Message.user("q"), call, result, Message.assistant("a")]
    cost = {id(m): message_tokens(m) for m in history}
    only_last_two = cost[id(result)] + cost[id(history[3])]
    # room for the result and the answer but not the call: neither result nor call goes
    window = token_window(history, only_last_two, 100)
    assert all(m.role != "tool" for m in window)
    assert token_window(history, 10_000, 100) == history


async def test_summary_keeps_recent_messages_and_summarises_older_ones(
    make_app: Callable[[dict[str, Any]], FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    sent = await _session(
        make_app({"strategy": "summary", "max_messages": 2, "summary_model": "sum_model"}),
        TURNS,
        recorder,
        monkeypatch,
    )
    # recent: the last user turn of the history; older: a summary, extended turn by turn
    assert _shape(sent) == [
        ("system", SYSTEM),
        ("system", f"Summary of the earlier conversation:\nSUMMARY#{len(recorder.summaries)}"),
        *_history()[-2:],
        ("user", "five"),
    ]
    # each summary request carried the previous summary and only the new older messages
    last = recorder.summaries[-1].messages[-1].content or ""
    assert f"SUMMARY#{len(recorder.summaries) - 1}" in last
    assert "user: three" in last
    assert "user: one" not in last
    first = recorder.summaries[0].messages[-1].content or ""
    assert "user: one" in first
    assert "The summary so far" not in first


async def test_a_failing_summary_model_leaves_the_conversation_going(
    make_app: Callable[[dict[str, Any]], FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    recorder.summariser = FunctionModel(lambda r: FunctionResponse(content=""), "sum_model")
    sent = await _session(
        make_app({"strategy": "summary", "max_messages": 2, "summary_model": "sum_model"}),
        TURNS[:3],
        recorder,
        monkeypatch,
    )
    assert _shape(sent)[0] == ("system", SYSTEM)
    assert not any("Summary" in (c or "") for _, c in _shape(sent))


async def test_redis_backend_keeps_a_copy_refilled_from_the_database(
    make_settings: Callable[..., Any],
    database_url: str,
    configs_dir: Any,
    add_components: Callable[[str, list[dict[str, Any]]], None],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    import redis

    from agio.api.app import create_app
    from tests.conftest import redis_settings

    add_components(
        "mem.yaml",
        _components({"strategy": "buffer", "max_messages": 50, "backend": "redis"}),
    )
    config = redis_settings(redis_url)
    app = create_app(make_settings(database_url=database_url, configs_dir=configs_dir, **config))
    recorder = Recorder()
    client, lifespan = await start_client(app)
    monkeypatch.setattr(app.state.agio.run_manager.models, "get", _fixed(recorder.agent))
    r = redis.Redis.from_url(config["redis_url"])
    try:
        first = (
            await client.post(
                "/api/chat", json={"agent_id": "mem_agent", "message": "one", "stream": False}
            )
        ).json()
        session = first["session_id"]
        key = f"{config['redis_prefix']}:memory:{session}"

        async def say(text: str) -> None:
            answer = await client.post(
                "/api/chat",
                json={
                    "agent_id": "mem_agent",
                    "message": text,
                    "session_id": session,
                    "stream": False,
                },
            )
            assert answer.json()["status"] == "completed"

        await say("two")  # its history was read (and copied) from the database
        copied = [json.loads(x) for x in r.lrange(key, 0, -1)]
        assert [(m["role"], m["content"]) for m in copied] == [
            ("user", "one"),
            ("assistant", "answer to one"),
            ("user", "two"),
            ("assistant", "answer to two"),
        ]
        assert 0 < r.ttl(key) <= 7 * 24 * 3600
        # what the model gets comes from Redis: change the copy, and the model sees it
        r.lset(key, 0, json.dumps({"role": "user", "content": "ONE (from redis)"}))
        await say("three")
        sent = recorder.agent.requests[-1].messages
        assert sent[1].content == "ONE (from redis)"
        # a lost copy is filled again from the database
        r.delete(key)
        await say("four")
        assert recorder.agent.requests[-1].messages[1].content == "one"
        assert r.llen(key) == 8
        assert (await client.delete(f"/api/sessions/{session}")).status_code == 204
        assert not r.exists(key)
    finally:
        r.close()
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


def _fixed(model: Any) -> Callable[[Any], Any]:
    async def get(component: Any) -> Any:
        return model

    return get
