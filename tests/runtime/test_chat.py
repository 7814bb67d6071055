"""Chat and runs through the API (ASGI transport): the loop, events, steps, sessions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy

from agio.domain.events import EVENT_TYPES


async def chat(client: httpx.AsyncClient, agent: str, message: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/chat", json={"agent_id": agent, "message": message, "stream": False, **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def put_config(client: httpx.AsyncClient, name: str, config: dict[str, Any]) -> None:
    response = await client.put(f"/api/config/{name}", json={"config": config})
    assert response.status_code in (200, 201), response.text


async def events_of(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    body = (await client.get(f"/api/runs/{run_id}/events")).json()
    assert body["total"] == len(body["events"])
    return body["events"]  # type: ignore[no-any-return]


async def test_spec_scripted_run_end_to_end(client: httpx.AsyncClient) -> None:
    result = await chat(client, "spec_agent", "What is six times seven?")
    assert result["status"] == "completed"
    assert result["response"] == "The answer is 42."
    assert result["session_id"].startswith("ses_")
    assert result["run_id"].startswith("run_")
    metrics = result["metrics"]
    assert metrics["total_steps"] == 3
    assert metrics["tool_calls"] == 1
    assert metrics["total_tokens"] == metrics["prompt_tokens"] + metrics["completion_tokens"] > 0

    events = await events_of(client, result["run_id"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["type"] in EVENT_TYPES for e in events)
    assert [e["type"] for e in events] == [
        "run_started",
        "step_started", "content_delta", "content_delta", "content_delta", "step_completed",
        "checkpoint_created",
        "step_started", "tool_call_started", "tool_call_completed", "step_completed",
        "checkpoint_created",
        "step_started", "content_delta", "content_delta", "content_delta", "step_completed",
        "checkpoint_created",
        "run_completed",
    ]  # fmt: skip
    deltas = [e["data"]["content"] for e in events if e["type"] == "content_delta"]
    assert deltas == ["Let me l", "ook that", " up.", "The answ", "er is 42", "."]
    started = events[0]["data"]
    assert started["run_id"] == result["run_id"]
    assert started["session_id"] == result["session_id"]
    assert started["agent_id"].startswith("agt_")
    assert started["timestamp"].endswith("Z")
    tool_done = next(e["data"] for e in events if e["type"] == "tool_call_completed")
    assert tool_done["tool"] == "calculator"
    assert tool_done["result"]["result"] == 42
    assert "error" not in tool_done
    assert tool_done["duration"] >= 0
    tool_start = next(e["data"] for e in events if e["type"] == "tool_call_started")
    assert tool_start == {
        "tool": "calculator",
        "args": {"expression": "6*7"},
        "call_id": tool_done["call_id"],
    }
    assert [e["data"]["step"] for e in events if e["type"] == "step_started"] == [1, 2, 3]
    assert [e["data"]["type"] for e in events if e["type"] == "step_started"] == [
        "llm_call",
        "tool_call",
        "llm_call",
    ]
    done = events[-1]["data"]
    assert done["response"] == "The answer is 42."
    assert done["metrics"] == metrics

    run = (await client.get(f"/api/runs/{result['run_id']}")).json()
    assert run["status"] == "completed"
    assert run["response_content"] == "The answer is 42."
    assert run["input_query"] == "What is six times seven?"
    assert run["last_seq"] == len(events)
    assert [s["type"] for s in run["steps"]] == ["llm_call", "tool_call", "llm_call"]
    first, tools, last = run["steps"]
    assert first["messages"][-1] == {
        "role": "user",
        "content": "What is six times seven?",
        "tool_calls": [],
        "tool_call_id": None,
        "name": None,
    }
    assert first["model_response"]["tool_calls"][0]["name"] == "calculator"
    assert tools["tool_calls"][0]["result"]["result"] == 42
    assert last["messages"][-1]["role"] == "tool"
    assert last["model_response"]["content"] == "The answer is 42."
    assert run["agent_config"]["model"]["name"] == "spec_script"


async def test_unknown_agent_is_404_before_any_stream(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat", json={"agent_id": "ghost", "message": "hi"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["type"] == "AgentNotFound"
    assert (await client.get("/api/runs")).json()["total"] == 0


async def test_bad_chat_bodies(client: httpx.AsyncClient) -> None:
    for body in (
        {"agent_id": "spec_agent"},
        {"agent_id": "spec_agent", "message": ""},
        {"agent_id": "spec_agent", "message": "x", "status": "completed"},
    ):
        response = await client.post("/api/chat", json=body)
        assert response.status_code == 422, body
    missing = await client.post(
        "/api/chat", json={"agent_id": "spec_agent", "message": "x", "session_id": "ses_nope"}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "SessionNotFound"


async def test_demo_agent_answers_without_a_key(client: httpx.AsyncClient) -> None:
    result = await chat(client, "customer_support", "What is (2 + 3) * 4?")
    assert result["status"] == "completed"
    assert "20" in result["response"]
    assert "[demo model]" in result["response"]
    events = await events_of(client, result["run_id"])
    started = [e["data"] for e in events if e["type"] == "tool_call_started"]
    assert started == [
        {
            "tool": "calculator",
            "args": {"expression": "(2 + 3) * 4"},
            "call_id": started[0]["call_id"],
        }
    ]
    plain = await chat(client, "customer_support", "Tell me a story")
    assert "demo model" in plain["response"]
    assert "OPENAI_API_KEY" in plain["response"]


async def test_sessions_continue_and_memory_limits_history(client: httpx.AsyncClient) -> None:
    await put_config(
        client,
        "echo",
        {"type": "model", "provider": "scripted", "model": "s", "responses": [{"content": "ok"}]},
    )
    await put_config(client, "short", {"type": "memory", "max_messages": 2})
    await put_config(client, "chatty", {"type": "agent", "model": "echo"})
    await put_config(
        client,
        "forgetful",
        {"type": "agent", "model": "echo", "memory": "short", "system_prompt": "Be kind."},
    )
    first = await chat(client, "chatty", "one")
    second = await chat(client, "chatty", "two", session_id=first["session_id"])
    assert second["session_id"] == first["session_id"]
    run = (await client.get(f"/api/runs/{second['run_id']}")).json()
    sent = [(m["role"], m["content"]) for m in run["steps"][0]["messages"]]
    assert sent == [("user", "one"), ("assistant", "ok"), ("user", "two")]

    a = await chat(client, "forgetful", "one")
    await chat(client, "forgetful", "two", session_id=a["session_id"])
    c = await chat(client, "forgetful", "three", session_id=a["session_id"])
    run = (await client.get(f"/api/runs/{c['run_id']}")).json()
    sent = [(m["role"], m["content"]) for m in run["steps"][0]["messages"]]
    assert sent == [("system", "Be kind."), ("user", "two"), ("assistant", "ok"), ("user", "three")]
    other = await client.post(
        "/api/chat",
        json={"agent_id": "chatty", "message": "x", "session_id": a["session_id"], "stream": False},
    )
    assert other.status_code == 409
    runs = (await client.get("/api/runs", params={"session_id": a["session_id"]})).json()
    assert runs["total"] == 3


async def test_failing_unknown_and_slow_tools_go_back_to_the_model(
    client: httpx.AsyncClient,
) -> None:
    await put_config(
        client,
        "tool_script",
        {
            "type": "model",
            "provider": "scripted",
            "model": "s",
            "responses": [
                {
                    "tool_calls": [
                        {"name": "explode", "arguments": {"reason": "test"}},
                        {"name": "teleport", "arguments": {}},
                        {"name": "slow", "arguments": {"seconds": 5}},
                    ]
                },
                {"content": "Recovered."},
            ],
        },
    )
    await put_config(
        client,
        "tool_agent",
        {"type": "agent", "model": "tool_script", "tools": ["explode", "slow"]},
    )
    result = await chat(client, "tool_agent", "go")
    assert result["status"] == "completed"
    assert result["response"] == "Recovered."
    assert result["metrics"]["tool_errors"] == 3
    events = await events_of(client, result["run_id"])
    errors = {
        e["data"]["tool"]: e["data"]["error"] for e in events if e["type"] == "tool_call_completed"
    }
    assert "exploded: test" in errors["explode"]
    assert "Unknown tool 'teleport'" in errors["teleport"]
    assert "available tools: explode, slow" in errors["teleport"]
    assert "timed out after 0.2s" in errors["slow"]
    run = (await client.get(f"/api/runs/{result['run_id']}")).json()
    tool_messages = run["steps"][2]["messages"][-3:]
    assert [m["role"] for m in tool_messages] == ["tool", "tool", "tool"]
    assert all('"error"' in m["content"] for m in tool_messages)


async def test_max_steps_ends_the_run_clearly(client: httpx.AsyncClient) -> None:
    await put_config(
        client,
        "loop_script",
        {
            "type": "model",
            "provider": "scripted",
            "model": "s",
            "responses": [
                {
                    "content": "again",
                    "tool_calls": [{"name": "calculator", "arguments": {"expression": "1+1"}}],
                }
            ],
        },
    )
    await put_config(
        client,
        "looper",
        {
            "type": "agent",
            "model": "loop_script",
            "tools": ["calculator"],
            "config": {"max_steps": 3},
        },
    )
    result = await chat(client, "looper", "loop")
    assert result["status"] == "failed"
    assert result["error"]["type"] == "MaxStepsExceeded"
    assert "3 model calls" in result["error"]["message"]
    run = (await client.get(f"/api/runs/{result['run_id']}")).json()
    assert [s["type"] for s in run["steps"]] == ["llm_call", "tool_call"] * 3
    assert run["response_content"] == "again\nagain\nagain"
    assert run["metrics"]["tool_calls"] == 3
    events = await events_of(client, result["run_id"])
    assert events[-1]["type"] == "run_failed"
    assert events[-1]["data"]["error"]["type"] == "MaxStepsExceeded"


async def test_runs_list_filters_and_order(client: httpx.AsyncClient) -> None:
    ids = [
        (await chat(client, "spec_agent", f"q{i}", user_id="u1" if i % 2 else "u2"))["run_id"]
        for i in range(4)
    ]
    await chat(client, "customer_support", "hello")
    listed = (await client.get("/api/runs", params={"agent_id": "spec_agent"})).json()
    assert [r["id"] for r in listed["items"]] == ids[::-1]
    by_id = (
        await client.get("/api/runs", params={"agent_id": listed["items"][0]["agent_id"]})
    ).json()
    assert by_id["total"] == 4
    assert (await client.get("/api/runs", params={"user_id": "u1"})).json()["total"] == 2
    assert (await client.get("/api/runs", params={"status": "completed"})).json()["total"] == 5
    assert (await client.get("/api/runs", params={"status": "running"})).json()["total"] == 0
    assert (await client.get("/api/runs", params={"status": "weird"})).status_code == 422
    page = (await client.get("/api/runs", params={"limit": 2, "offset": 1})).json()
    assert len(page["items"]) == 2
    assert page["has_more"] is True
    assert page["total"] == 5
    assert (await client.get("/api/runs/run_missing")).status_code == 404
    assert (await client.get("/api/runs/run_missing/events")).json()["error"]["type"] == (
        "RunNotFound"
    )
    events = (
        await client.get(f"/api/runs/{ids[0]}/events", params={"offset": 2, "limit": 3})
    ).json()
    assert [e["seq"] for e in events["events"]] == [3, 4, 5]
    assert events["total"] == 19


async def test_config_change_applies_to_later_runs_only(client: httpx.AsyncClient) -> None:
    before = await chat(client, "spec_agent", "q")
    await put_config(
        client,
        "spec_script",
        {"type": "model", "provider": "scripted", "model": "s", "responses": [{"content": "v2"}]},
    )
    after = await chat(client, "spec_agent", "q")
    assert before["response"] == "The answer is 42."
    assert after["response"] == "v2"
    old = (await client.get(f"/api/runs/{before['run_id']}")).json()
    assert old["agent_config"]["model"]["responses"][-1]["content"] == "The answer is 42."


@pytest.mark.parametrize("disabled", ["agent", "model"])
async def test_disabled_components_are_409(client: httpx.AsyncClient, disabled: str) -> None:
    await put_config(
        client,
        "m2",
        {"type": "model", "provider": "demo", "model": "d", "enabled": disabled != "model"},
    )
    await put_config(client, "a2", {"type": "agent", "model": "m2", "enabled": disabled != "agent"})
    response = await client.post("/api/chat", json={"agent_id": "a2", "message": "x"})
    assert response.status_code == 409
    assert "disabled" in response.json()["error"]["message"]


async def test_a_new_runs_stream_reads_no_events_from_the_log(
    client: httpx.AsyncClient, app: Any
) -> None:
    # the stream subscribes before the run's task starts, so every event reaches it live
    engine = app.state.agio.db.engine.sync_engine
    reads: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "run_events" in statement and statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    sqlalchemy.event.listen(engine, "before_cursor_execute", record)
    try:
        async with client.stream(
            "POST", "/api/chat", json={"agent_id": "spec_agent", "message": "6*7?", "stream": True}
        ) as response:
            assert response.status_code == 200
            body = (await response.aread()).decode()
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", record)
    assert "event: run_completed" in body
    assert reads == []
    # and what it streamed is what was stored
    run_id = response.headers["X-Run-ID"]
    stored = await events_of(client, run_id)
    streamed = [line.removeprefix("id: ") for line in body.splitlines() if line.startswith("id: ")]
    assert streamed == [str(e["seq"]) for e in stored]
