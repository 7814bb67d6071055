"""`/mcp`: Agio as an MCP server (SPEC §19), met by the official SDK's client over
Streamable HTTP against a live server on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import PASSWORD, add_user, admin_key
from tests.live import serve

COMPONENTS: list[dict[str, Any]] = [
    {
        "type": "model",
        "name": "mcp_script",
        "provider": "scripted",
        "model": "scripted",
        "responses": [{"content": "Hello from Agio."}],
    },
    {"type": "agent", "name": "helper", "description": "Answers kindly.", "model": "mcp_script"},
    {"type": "agent", "name": "resting", "model": "mcp_script", "enabled": False},
]


@pytest.fixture
def live(
    settings: Settings, add_components: Callable[[str, list[dict[str, Any]]], None]
) -> Iterator[tuple[str, str]]:
    """(base URL, admin key) of a live Agio with the agents above."""
    add_components("mcp.yaml", COMPONENTS)
    with serve(create_app(settings)) as url:
        yield url, admin_key(settings)


@asynccontextmanager
async def mcp_client(url: str, headers: dict[str, str]) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


async def test_the_sdk_client_lists_the_agents_and_gets_an_answer(live: tuple[str, str]) -> None:
    url, admin = live
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": admin}) as api:
        user_id, user = await add_user(api, "user")
        async with mcp_client(url, user) as client:
            listed = await client.list_tools()
            tools = {tool.name: tool for tool in listed.tools}
            assert "ask_helper" in tools
            assert "ask_resting" not in tools  # disabled: nobody may execute it
            assert "ask_assistant" in tools  # the bundled agents too
            helper = tools["ask_helper"]
            assert helper.description == "Answers kindly."
            assert helper.input_schema["required"] == ["message"]
            assert set(helper.input_schema["properties"]) == {"message", "session_id"}

            result = await client.call_tool("ask_helper", {"message": "Hi there"})
            assert not result.is_error
            assert [block.text for block in result.content] == ["Hello from Agio."]  # type: ignore[union-attr]
            structured = result.structured_content
            assert structured is not None
            run_id = structured["run_id"]
            assert structured["status"] == "completed"
            assert result.meta is not None
            assert result.meta["agio/run_id"] == run_id

            # a second question in the same session
            again = await client.call_tool(
                "ask_helper", {"message": "Again", "session_id": structured["session_id"]}
            )
            assert again.structured_content is not None
            assert again.structured_content["session_id"] == structured["session_id"]

            missing = await client.call_tool("ask_nobody", {"message": "Hi"})
            assert missing.is_error
            unknown_session = await client.call_tool(
                "ask_helper", {"message": "Hi", "session_id": "ses_missing"}
            )
            assert unknown_session.is_error
            no_message = await client.call_tool("ask_helper", {})
            assert no_message.is_error

        # the run is an Agio run like any other, the caller's own
        run = await api.get(f"/api/runs/{run_id}", headers=user)
        assert run.status_code == 200, run.text
        assert run.json()["status"] == "completed"
        assert run.json()["user_id"] == user_id
        assert run.json()["response_content"] == "Hello from Agio."


async def test_a_jwt_works_and_a_viewer_lists_no_agents(live: tuple[str, str]) -> None:
    url, admin = live
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": admin}) as api:
        created = await api.post(
            "/api/users", json={"username": "mcp_user", "password": PASSWORD, "role": "user"}
        )
        assert created.status_code == 201, created.text
        token = await api.post(
            "/api/auth/token", data={"username": "mcp_user", "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        async with mcp_client(url, bearer) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "ask_helper" in names
            answer = await client.call_tool("ask_helper", {"message": "Hi"})
            assert not answer.is_error

        _, viewer = await add_user(api, "viewer")
        async with mcp_client(url, viewer) as client:
            assert (await client.list_tools()).tools == []
            refused = await client.call_tool("ask_helper", {"message": "Hi"})
            assert refused.is_error
            assert "may not run agents" in refused.content[0].text  # type: ignore[union-attr]


async def test_without_credentials_it_is_a_401(live: tuple[str, str]) -> None:
    url, _ = live
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient(base_url=url) as anonymous:
        for headers in ({}, {"X-API-Key": "agio_wrong"}, {"Authorization": "Bearer nonsense"}):
            response = await anonymous.post(
                "/mcp",
                json=body,
                headers={**headers, "Accept": "application/json, text/event-stream"},
            )
            assert response.status_code == 401, response.text
            assert response.json()["error"]["type"] == "Unauthorized"
        # stateless: no stream to GET, no session to DELETE
        assert (await anonymous.get("/mcp")).status_code == 405
    with pytest.raises(BaseException):  # noqa: B017, PT011 - the SDK's own error for a 401
        async with mcp_client(url, {}) as client:
            await client.list_tools()


async def test_plain_json_rpc_as_in_the_docs_curl_example(live: tuple[str, str]) -> None:
    url, admin = live
    async with httpx.AsyncClient(base_url=url) as plain:
        response = await plain.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={
                "X-API-Key": admin,
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-06-18",
            },
        )
    assert response.status_code == 200, response.text
    assert "X-Request-ID" in response.headers  # through Agio's middleware like any route
    assert '"ask_helper"' in response.text
