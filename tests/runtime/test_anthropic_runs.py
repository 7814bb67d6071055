"""Runs on the `anthropic` provider against the fake Anthropic-compatible Messages API:
a tool-use round trip through a real agent run, usage in the run's metrics, a retry
before the first token, and a 401 that fails the run clearly without the key anywhere."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from tests.fakes.anthropic_server import (
    AnthropicError,
    AnthropicText,
    AnthropicTools,
    AnthropicToolUse,
    FakeAnthropicServer,
)
from tests.fakes.fixtures import fake_anthropic  # noqa: F401

API_KEY = "sk-ant-fake-key-0123456789"


async def setup_agent(client: httpx.AsyncClient, server: FakeAnthropicServer, **model: Any) -> None:
    config = {
        "type": "model",
        "provider": "anthropic",
        "model": "claude-fake",
        "base_url": server.base_url,
        "api_key": API_KEY,
        "max_retries": 1,
        **model,
    }
    assert (await client.put("/api/config/claude", json={"config": config})).status_code == 201
    agent = {
        "type": "agent",
        "model": "claude",
        "tools": ["calculator"],
        "system_prompt": "Be exact.",
    }
    assert (await client.put("/api/config/claude_agent", json={"config": agent})).status_code == 201


async def run(
    client: httpx.AsyncClient, message: str = "What is 6*7?"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    result = (
        await client.post(
            "/api/chat", json={"agent_id": "claude_agent", "message": message, "stream": False}
        )
    ).json()
    events = (await client.get(f"/api/runs/{result['run_id']}/events")).json()["events"]
    return result, events


async def test_a_tool_use_round_trip_with_usage_in_the_metrics(
    client: httpx.AsyncClient,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
) -> None:
    await setup_agent(client, fake_anthropic)
    fake_anthropic.enqueue(
        AnthropicTools(
            text="Computing.",
            calls=[
                AnthropicToolUse("toolu_1", "calculator", {"expression": "6*7"}, pieces=4),
                AnthropicToolUse("toolu_2", "calculator", {"expression": "2**10"}, pieces=2),
            ],
            usage=(40, 15),
        ),
        AnthropicText(["6*7 is 42, ", "2**10 is 1024."], usage=(90, 9)),
    )
    result, events = await run(client)
    assert result["status"] == "completed", result
    assert result["response"] == "6*7 is 42, 2**10 is 1024."
    assert result["metrics"]["prompt_tokens"] == 130
    assert result["metrics"]["completion_tokens"] == 24
    done = {
        e["data"]["call_id"]: e["data"]["result"]["result"]
        for e in events
        if e["type"] == "tool_call_completed"
    }
    assert done == {"toolu_1": 42, "toolu_2": 1024}
    second = fake_anthropic.messages[1].body
    assert second["system"] == "Be exact."
    assert [turn["role"] for turn in second["messages"]] == ["user", "assistant", "user"]
    assistant, results = second["messages"][1]["content"], second["messages"][2]["content"]
    assert assistant[0] == {"type": "text", "text": "Computing."}
    assert [(b["type"], b["id"], b["input"]) for b in assistant[1:]] == [
        ("tool_use", "toolu_1", {"expression": "6*7"}),
        ("tool_use", "toolu_2", {"expression": "2**10"}),
    ]
    assert [(b["type"], b["tool_use_id"]) for b in results] == [
        ("tool_result", "toolu_1"),
        ("tool_result", "toolu_2"),
    ]
    assert "42" in results[0]["content"]
    assert [t["name"] for t in second["tools"]] == ["calculator"]
    assert second["tools"][0]["input_schema"]["type"] == "object"


async def test_overloaded_then_success_is_retried_and_reported(
    client: httpx.AsyncClient,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
) -> None:
    await setup_agent(client, fake_anthropic)
    fake_anthropic.enqueue(
        AnthropicError(529, "overloaded_error", "Overloaded"), AnthropicText(["ok"])
    )
    result, events = await run(client, "hello")
    assert result["status"] == "completed"
    assert result["response"] == "ok"
    retries = [e["data"]["error"] for e in events if e["type"] == "error"]
    assert [r["type"] for r in retries] == ["ModelRetry"]
    assert "529" in retries[0]["message"]


async def test_a_401_fails_the_run_clearly_and_the_key_is_nowhere(
    client: httpx.AsyncClient,
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    await setup_agent(client, fake_anthropic)
    fake_anthropic.enqueue(
        AnthropicError(401, "authentication_error", f"invalid x-api-key: {API_KEY}")
    )
    result, events = await run(client, "hello")
    assert result["status"] == "failed"
    assert result["error"]["type"] == "ModelAuthError"
    assert "HTTP 401" in result["error"]["message"]
    assert "invalid x-api-key" in result["error"]["message"]
    assert len(fake_anthropic.messages) == 1  # not retried
    assert fake_anthropic.messages[0].headers["x-api-key"] == API_KEY
    run_id = result["run_id"]
    seen = [
        json.dumps(result),
        json.dumps(events),
        (await client.get(f"/api/runs/{run_id}")).text,
        (await client.get("/api/config/claude")).text,
        caplog.text,
        capsys.readouterr().err,
    ]
    for text in seen:
        assert API_KEY not in text
