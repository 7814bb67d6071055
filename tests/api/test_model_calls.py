"""The model-call log (SPEC §22): `GET /api/runs/{id}/model_calls` after real runs (a
scripted model with tool calls, the `anthropic` provider against its fake server, a
failed call), on both databases: every call's whole request rebuilt from the stored
deltas, tools, response, usage, latency, error; pagination; owner-only; no secret; the
rows store only the messages added since the previous call; the retention sweep."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from agio.domain.time import utcnow
from agio.storage.model_calls import ModelCallRepository
from agio.storage.tables import RunRow
from agio.storage.tables_model_calls import ModelCallRow
from tests.conftest import add_user
from tests.fakes.anthropic_server import (
    AnthropicError,
    AnthropicText,
    AnthropicTools,
    AnthropicToolUse,
    FakeAnthropicServer,
)
from tests.fakes.fixtures import fake_anthropic  # noqa: F401

API_KEY = "sk-ant-secret-in-the-component-0042"


def calc(expression: str, call_id: str) -> dict[str, Any]:
    return {"name": "calculator", "arguments": {"expression": expression}, "id": call_id}


async def scripted_agent(client: httpx.AsyncClient, responses: list[dict[str, Any]]) -> None:
    model = {"type": "model", "provider": "scripted", "model": "s", "responses": responses}
    assert (await client.put("/api/config/script", json={"config": model})).status_code == 201
    agent = {
        "type": "agent",
        "model": "script",
        "tools": ["calculator"],
        "system_prompt": "Count.",
    }
    assert (await client.put("/api/config/counter", json={"config": agent})).status_code == 201


async def chat(
    client: httpx.AsyncClient, agent: str, message: str, session_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"agent_id": agent, "message": message, "stream": False}
    if session_id:
        body["session_id"] = session_id
    response = await client.post("/api/chat", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def calls_of(client: httpx.AsyncClient, run_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/api/runs/{run_id}/model_calls", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_every_call_of_a_run_with_its_whole_request_rebuilt(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await scripted_agent(
        client,
        [
            {"content": "One.", "tool_calls": [calc("1+1", "c1")]},
            {"tool_calls": [calc("2+2", "c2"), calc("3+3", "c3")]},
            {"content": "Done: 2, 4, 6."},
        ],
    )
    first = await chat(client, "counter", "count for me")
    assert first["status"] == "completed", first
    run_id = first["run_id"]
    page = await calls_of(client, run_id)
    assert page["total"] == 3
    assert not page["has_more"]
    calls = page["items"]
    assert [c["number"] for c in calls] == [1, 2, 3]
    # the requests as the model got them, against the run's own steps
    steps = [
        s
        for s in (await client.get(f"/api/runs/{run_id}")).json()["steps"]
        if s["type"] == "llm_call"
    ]
    assert [c["messages"] for c in calls] == [s["messages"] for s in steps]
    assert [c["response"] for c in calls] == [s["model_response"] for s in steps]
    assert [m["role"] for m in calls[2]["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "tool",
    ]
    assert calls[0]["messages"][0] == {
        "role": "system",
        "content": "Count.",
        "tool_calls": [],
        "tool_call_id": None,
        "name": None,
    }
    assert calls[1]["response"]["tool_calls"][1]["arguments"] == {"expression": "3+3"}
    assert calls[2]["response"]["content"] == "Done: 2, 4, 6."
    for call in calls:
        assert [t["name"] for t in call["tools"]] == ["calculator"]
        assert call["tools"][0]["parameters"]["type"] == "object"
        assert call["model"] == "script"
        assert call["error"] is None
        assert call["retries"] == 0
        assert call["latency_ms"] >= 0
        assert call["first_token_ms"] is not None
        assert call["usage"]["total_tokens"] == (
            call["usage"]["prompt_tokens"] + call["usage"]["completion_tokens"]
        )
    # stored as deltas: each row only what was added since the previous call
    db = app.state.agio.db
    async with db.sessions() as s:
        rows = list(
            (
                await s.execute(
                    select(ModelCallRow)
                    .where(ModelCallRow.run_id == run_id)
                    .order_by(ModelCallRow.id)
                )
            ).scalars()
        )
    assert [(r.prefix, len(r.messages)) for r in rows] == [(0, 2), (2, 2), (4, 3)]
    assert rows[0].tools is not None
    assert rows[1].tools is None
    assert rows[2].tools is None
    # pages: a page that starts after the first row rebuilds from the rows before it
    second = await calls_of(client, run_id, offset=1, limit=1)
    assert second["total"] == 3
    assert second["has_more"]
    assert second["items"] == [calls[1]]
    last = await calls_of(client, run_id, offset=2, limit=5)
    assert last["items"] == [calls[2]]
    assert not last["has_more"]
    # the next run of the session: its first call starts afresh, with the history
    again = await chat(client, "counter", "and again", first["session_id"])
    opening = (await calls_of(client, again["run_id"]))["items"][0]
    assert [m["role"] for m in opening["messages"]][-2:] == ["assistant", "user"]
    assert opening["messages"][-1]["content"] == "and again"
    assert opening["messages"][-2]["content"] == "Done: 2, 4, 6."


async def test_owner_only_and_bad_pages(client: httpx.AsyncClient) -> None:
    await scripted_agent(client, [{"content": "hi"}])
    _, alice = await add_user(client, "user", "alice_calls")
    _, bob = await add_user(client, "user", "bob_calls")
    run = (
        await client.post(
            "/api/chat",
            json={"agent_id": "counter", "message": "hello", "stream": False},
            headers=alice,
        )
    ).json()
    url = f"/api/runs/{run['run_id']}/model_calls"
    assert (await client.get(url, headers=alice)).json()["total"] == 1
    assert (await client.get(url, headers=bob)).status_code == 404
    assert (await client.get("/api/runs/run_nope/model_calls")).status_code == 404
    assert (await client.get(url, params={"limit": 0})).status_code == 422
    assert (await client.get(url, params={"offset": -1})).status_code == 422
    assert (await client.get(url)).json()["total"] == 1  # an admin sees it


async def test_anthropic_calls_are_logged_with_errors_and_no_secret(
    client: httpx.AsyncClient,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
) -> None:
    model = {
        "type": "model",
        "provider": "anthropic",
        "model": "claude-fake",
        "base_url": fake_anthropic.base_url,
        "api_key": API_KEY,
        "max_retries": 1,
    }
    assert (await client.put("/api/config/claude", json={"config": model})).status_code == 201
    agent = {"type": "agent", "model": "claude", "tools": ["calculator"]}
    assert (await client.put("/api/config/claude_agent", json={"config": agent})).status_code == 201
    fake_anthropic.enqueue(
        AnthropicError(529, "overloaded_error", "Overloaded"),
        AnthropicTools(calls=[AnthropicToolUse("toolu_x", "calculator", {"expression": "6*7"})]),
        AnthropicText(["42"], usage=(50, 2)),
    )
    ok = await chat(client, "claude_agent", "6*7?")
    assert ok["status"] == "completed", ok
    calls = (await calls_of(client, ok["run_id"]))["items"]
    assert [c["retries"] for c in calls] == [1, 0]
    assert calls[0]["response"]["tool_calls"][0]["id"] == "toolu_x"
    assert calls[1]["usage"] == {"prompt_tokens": 50, "completion_tokens": 2, "total_tokens": 52}
    assert calls[1]["messages"][-1]["role"] == "tool"
    fake_anthropic.enqueue(AnthropicError(401, "authentication_error", f"bad key {API_KEY}"))
    failed = await chat(client, "claude_agent", "again?")
    assert failed["status"] == "failed"
    (call,) = (await calls_of(client, failed["run_id"]))["items"]
    assert call["response"] is None
    assert call["error"]["type"] == "ModelAuthError"
    assert "HTTP 401" in call["error"]["message"]
    for run in (ok, failed):
        assert API_KEY not in json.dumps(await calls_of(client, run["run_id"]))


async def test_the_retention_sweep_deletes_the_log_of_runs_ended_long_ago(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await scripted_agent(client, [{"content": "a"}, {"content": "b"}])
    old = await chat(client, "counter", "old")
    recent = await chat(client, "counter", "recent")
    db = app.state.agio.db
    long_ago = utcnow() - timedelta(days=40)
    async with db.write_sessions() as s, s.begin():
        await s.execute(update(RunRow).where(RunRow.id == old["run_id"]).values(ended_at=long_ago))
        await s.execute(
            update(ModelCallRow)
            .where(ModelCallRow.run_id == old["run_id"])
            .values(started_at=long_ago)
        )
    retention = app.state.agio.run_manager.call_retention
    assert retention.days == 30
    retention._last = None
    assert await retention.sweep() == 1
    assert (await calls_of(client, old["run_id"]))["total"] == 0
    assert (await calls_of(client, recent["run_id"]))["total"] == 1
    # swept at most once an hour, and never with a retention of 0
    assert await retention.sweep() == 0
    assert await ModelCallRepository(db).sweep(utcnow() - timedelta(days=30)) == 0


async def test_the_log_can_be_turned_off(
    make_settings: Any, database_url: str, configs_dir: Any
) -> None:
    from agio.api.app import create_app
    from tests.conftest import start_client

    app = create_app(
        make_settings(database_url=database_url, configs_dir=configs_dir, model_call_log=False)
    )
    client, lifespan = await start_client(app)
    try:
        await scripted_agent(client, [{"content": "quiet"}])
        run = await chat(client, "counter", "hello")
        assert run["status"] == "completed"
        assert (await calls_of(client, run["run_id"]))["total"] == 0
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
