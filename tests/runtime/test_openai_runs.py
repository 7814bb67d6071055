"""Runs on the `openai` provider against the fake OpenAI-compatible server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fakes.fixtures import fake_openai  # noqa: F401
from tests.fakes.openai_server import (
    ErrorResponse,
    FakeOpenAIServer,
    FakeToolCall,
    MalformedChunk,
    StreamText,
    StreamToolCalls,
)


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def setup_agent(client: httpx.AsyncClient, server: FakeOpenAIServer, **model: Any) -> None:
    config = {
        "type": "model",
        "provider": "openai",
        "model": "fake-gpt",
        "base_url": server.base_url,
        "api_key": "sk-fake-key",
        "max_retries": 1,
        **model,
    }
    assert (await client.put("/api/config/fake_gpt", json={"config": config})).status_code == 201
    agent = {
        "type": "agent",
        "model": "fake_gpt",
        "tools": ["calculator", "current_time"],
        "system_prompt": "Be exact.",
    }
    assert (await client.put("/api/config/fake_agent", json={"config": agent})).status_code == 201


async def run(
    client: httpx.AsyncClient, message: str = "What is 6*7?"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    result = (
        await client.post(
            "/api/chat", json={"agent_id": "fake_agent", "message": message, "stream": False}
        )
    ).json()
    events = (await client.get(f"/api/runs/{result['run_id']}/events")).json()["events"]
    return result, events


async def test_streamed_text_parallel_tool_calls_and_usage(
    client: httpx.AsyncClient,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    await setup_agent(client, fake_openai)
    fake_openai.enqueue(
        StreamToolCalls(
            calls=[
                FakeToolCall("call_a", "calculator", json.dumps({"expression": "6*7"})),
                FakeToolCall("call_b", "calculator", json.dumps({"expression": "2**10"})),
            ],
            pieces=4,
            interleave=True,
            usage=(30, 10),
        ),
        StreamText(["Six times seven ", "is 42; ", "2**10 is 1024."], usage=(60, 12)),
    )
    result, events = await run(client)
    assert result["status"] == "completed", result
    assert result["response"] == "Six times seven is 42; 2**10 is 1024."
    assert result["metrics"]["prompt_tokens"] == 90
    assert result["metrics"]["completion_tokens"] == 22
    assert result["metrics"]["tool_calls"] == 2
    done = {
        e["data"]["call_id"]: e["data"]["result"]["result"]
        for e in events
        if e["type"] == "tool_call_completed"
    }
    assert done == {"call_a": 42, "call_b": 1024}
    assert [e["data"]["content"] for e in events if e["type"] == "content_delta"] == [
        "Six times seven ",
        "is 42; ",
        "2**10 is 1024.",
    ]
    second = fake_openai.completions[1].body
    assert second["messages"][0] == {"role": "system", "content": "Be exact."}
    assert [m["role"] for m in second["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
    ]
    assert {t["function"]["name"] for t in second["tools"]} == {"calculator", "current_time"}
    assert fake_openai.completions[0].authorization == "Bearer sk-fake-key"


async def test_429_then_success_is_retried_and_reported(
    client: httpx.AsyncClient,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    await setup_agent(client, fake_openai)
    fake_openai.enqueue(ErrorResponse(429, "slow down", retry_after="0"), StreamText(["fine"]))
    result, events = await run(client, "hello")
    assert result["status"] == "completed"
    assert result["response"] == "fine"
    retries = [e["data"]["error"] for e in events if e["type"] == "error"]
    assert len(retries) == 1
    assert retries[0]["type"] == "ModelRetry"
    assert len(fake_openai.completions) == 2


async def test_500_fails_the_run_with_the_reason(
    client: httpx.AsyncClient,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    await setup_agent(client, fake_openai, max_retries=0)
    fake_openai.enqueue(ErrorResponse(500, "the model is on fire"))
    result, events = await run(client, "hello")
    assert result["status"] == "failed"
    assert result["error"]["type"] == "ModelUnavailable"
    assert "500" in result["error"]["message"]
    assert "sk-fake-key" not in json.dumps(events)
    assert events[-1]["type"] == "run_failed"


async def test_malformed_chunk_fails_cleanly(
    client: httpx.AsyncClient,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    await setup_agent(client, fake_openai)
    fake_openai.enqueue(MalformedChunk())
    result, _ = await run(client, "hello")
    assert result["status"] == "failed"
    assert result["error"]["type"] == "ModelMalformedResponse"


async def test_timeout_fails_the_run(
    client: httpx.AsyncClient,
    fake_openai: FakeOpenAIServer,  # noqa: F811
) -> None:
    from tests.fakes.openai_server import Hang

    await setup_agent(client, fake_openai, timeout=0.3, max_retries=0)
    fake_openai.enqueue(Hang(3))
    result, _ = await run(client, "hello")
    assert result["status"] == "failed"
    assert result["error"]["type"] == "ModelTimeout"
