"""Agio agents calling the tools of MCP servers (`kind: mcp`, SPEC §19) in real runs: a
server over stdio (a subprocess written with the SDK's `MCPServer`) and one over
streamable HTTP on 127.0.0.1, with scripted models that call their tools; SQLite and
PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import start_client
from tests.fakes.fixtures import fake_mcp_http  # noqa: F401
from tests.fakes.mcp_http_server import FakeMcpHttpServer
from tests.runtime.test_chat import chat, events_of, put_config

STDIO_SERVER = str(Path(__file__).resolve().parents[1] / "fakes" / "mcp_stdio_server.py")


def scripted(name: str, *calls: dict[str, Any], answer: str = "Done.") -> dict[str, Any]:
    """A scripted model that makes each call in its own step, then answers."""
    responses = [{"tool_calls": [call]} for call in calls]
    return {
        "type": "model",
        "name": name,
        "provider": "scripted",
        "model": "scripted",
        "responses": [*responses, {"content": answer}],
    }


def stdio_tool(name: str = "local_mcp", **fields: Any) -> dict[str, Any]:
    return {
        "type": "tool",
        "name": name,
        "kind": "mcp",
        "transport": "stdio",
        "command": sys.executable,
        "args": [STDIO_SERVER],
        **fields,
    }


def completed_tools(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == "tool_call_completed"]


@pytest.fixture
async def app_client(
    settings: Settings,
    add_components: Callable[[str, list[dict[str, Any]]], None],
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    monkeypatch.setenv("MCP_ECHO_PREFIX", "echo: ")
    add_components(
        "mcp.yaml",
        [
            stdio_tool(env={"ECHO_PREFIX": "${MCP_ECHO_PREFIX}"}),
            stdio_tool("picky_mcp", include=["echo", "shout", "add"], exclude=["add"]),
            scripted(
                "stdio_script",
                {"name": "echo", "arguments": {"text": "over stdio"}},
                {"name": "add", "arguments": {"a": 20, "b": 22}},
                answer="The server said so.",
            ),
            {
                "type": "agent",
                "name": "stdio_agent",
                "model": "stdio_script",
                "tools": ["local_mcp"],
            },
            scripted(
                "crash_script",
                {"name": "crash", "arguments": {}},
                {"name": "pid", "arguments": {}},
                answer="Went on.",
            ),
            {
                "type": "agent",
                "name": "crash_agent",
                "model": "crash_script",
                "tools": ["local_mcp"],
            },
            scripted(
                "picky_script",
                {"name": "shout", "arguments": {"text": "hey"}},
                {"name": "add", "arguments": {"a": 1, "b": 1}},
            ),
            {
                "type": "agent",
                "name": "picky_agent",
                "model": "picky_script",
                "tools": ["picky_mcp"],
            },
        ],
    )
    add_components(
        "mcp_gated.yaml",
        [
            stdio_tool("gated_mcp", include=["echo"], requires_approval=True),
            scripted("gated_script", {"name": "echo", "arguments": {"text": "may I?"}}),
            {
                "type": "agent",
                "name": "gated_agent",
                "model": "gated_script",
                "tools": ["gated_mcp"],
            },
        ],
    )
    client, lifespan = await start_client(create_app(settings))
    try:
        yield client
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_an_agent_calls_the_tools_of_a_stdio_server(app_client: httpx.AsyncClient) -> None:
    result = await chat(app_client, "stdio_agent", "Use the server")
    assert result["status"] == "completed", result
    assert result["response"] == "The server said so."
    done = completed_tools(await events_of(app_client, result["run_id"]))
    assert [(d["tool"], d["result"]) for d in done] == [
        ("echo", "echo: over stdio"),  # the env value (from the environment) reached it
        ("add", "42"),
    ]
    assert all("error" not in d for d in done)
    # the component's env is a secret: masked when read back
    shown = (await app_client.get("/api/config/local_mcp")).json()
    assert shown["env"] == {"ECHO_PREFIX": "********"}


async def test_include_and_exclude_decide_what_the_model_sees(
    app_client: httpx.AsyncClient,
) -> None:
    result = await chat(app_client, "picky_agent", "Go")
    assert result["status"] == "completed", result
    done = completed_tools(await events_of(app_client, result["run_id"]))
    assert done[0]["result"] == "HEY"
    assert done[1]["tool"] == "add"
    assert "Unknown tool 'add'" in done[1]["error"]
    assert "echo, shout" in done[1]["error"]  # what the agent has: include less exclude


async def test_a_server_that_dies_mid_call_is_a_tool_error_and_the_run_completes(
    app_client: httpx.AsyncClient,
) -> None:
    result = await chat(app_client, "crash_agent", "Crash it")
    assert result["status"] == "completed", result
    assert result["response"] == "Went on."
    done = completed_tools(await events_of(app_client, result["run_id"]))
    assert done[0]["tool"] == "crash"
    assert "closed the connection" in done[0]["error"]
    assert done[1]["tool"] == "pid"  # the next call started the server again
    assert "error" not in done[1]
    assert int(done[1]["result"]) > 0
    assert result["metrics"]["tool_errors"] == 1


async def test_an_http_server_gets_the_header_from_a_secret(
    app_client: httpx.AsyncClient,
    fake_mcp_http: FakeMcpHttpServer,  # noqa: F811
) -> None:
    await put_config(
        app_client,
        "remote_mcp",
        {
            "type": "tool",
            "name": "remote_mcp",
            "kind": "mcp",
            "transport": "http",
            "url": fake_mcp_http.url,
            "headers": {"Authorization": "Bearer remote-s3cret"},
            "exclude": ["whisper"],
        },
    )
    shown = await app_client.get("/api/config/remote_mcp")
    assert "remote-s3cret" not in shown.text
    assert shown.json()["headers"] == {"Authorization": "********"}
    await put_config(
        app_client,
        "http_script",
        scripted(
            "http_script",
            {"name": "lookup", "arguments": {"word": "lamp"}},
            {"name": "fail", "arguments": {}},
        ),
    )
    await put_config(
        app_client,
        "http_agent",
        {"type": "agent", "name": "http_agent", "model": "http_script", "tools": ["remote_mcp"]},
    )
    result = await chat(app_client, "http_agent", "Look it up")
    assert result["status"] == "completed", result
    done = completed_tools(await events_of(app_client, result["run_id"]))
    assert done[0]["result"] == "lamp has 4 letters"
    assert "the fail tool failed" in done[1]["error"]
    assert fake_mcp_http.seen_headers
    assert {h.get("authorization") for h in fake_mcp_http.seen_headers} == {"Bearer remote-s3cret"}
    # the secret is in no event of the run
    assert "remote-s3cret" not in str(await events_of(app_client, result["run_id"]))


async def test_a_server_that_is_down_never_fails_the_run(app_client: httpx.AsyncClient) -> None:
    await put_config(
        app_client,
        "down_mcp",
        {
            "type": "tool",
            "name": "down_mcp",
            "kind": "mcp",
            "transport": "http",
            "url": "http://127.0.0.1:1/mcp",
        },
    )
    await put_config(
        app_client,
        "down_script",
        scripted("down_script", {"name": "lookup", "arguments": {"word": "x"}}),
    )
    await put_config(
        app_client,
        "down_agent",
        {"type": "agent", "name": "down_agent", "model": "down_script", "tools": ["down_mcp"]},
    )
    result = await chat(app_client, "down_agent", "Try")
    assert result["status"] == "completed", result
    done = completed_tools(await events_of(app_client, result["run_id"]))
    assert "Unknown tool 'lookup'" in done[0]["error"]


async def test_stdio_servers_from_the_api_need_an_allowed_command(
    app_client: httpx.AsyncClient,
) -> None:
    refused = await app_client.put("/api/config/api_mcp", json={"config": stdio_tool("api_mcp")})
    assert refused.status_code == 422, refused.text
    assert "AGIO_ALLOWED_MCP_COMMANDS" in refused.json()["error"]["message"]


async def test_requires_approval_covers_every_tool_of_the_server(
    app_client: httpx.AsyncClient,
) -> None:
    result = await chat(app_client, "gated_agent", "Echo")
    assert result["status"] == "waiting_approval", result
    events = await events_of(app_client, result["run_id"])
    asked = [e["data"] for e in events if e["type"] == "approval_requested"]
    assert [(a["tool"], a["args"]) for a in asked] == [("echo", {"text": "may I?"})]
    assert not completed_tools(events)  # not called before a decision
