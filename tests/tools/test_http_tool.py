"""`http` tools: POST the arguments as JSON to an operator-configured endpoint."""

from __future__ import annotations

import json

import pytest

from agio.config.components import ToolComponent
from agio.tools.base import Tool, ToolError
from agio.tools.http_tool import HttpTool
from agio.tools.registry import build_tool
from tests.tools.conftest import LocalServer


def http_component(url: str, **fields: object) -> ToolComponent:
    return ToolComponent.model_validate({"name": "remote", "kind": "http", "url": url, **fields})


async def test_posts_arguments_as_json_with_secret_headers(local_server: LocalServer) -> None:
    component = http_component(
        local_server.url("/echo"),
        description="Echoes.",
        headers={"Authorization": "Bearer s3cret"},
        timeout=5,
    )
    tool = build_tool(component)
    assert isinstance(tool, HttpTool)
    assert isinstance(tool, Tool)
    assert (tool.name, tool.description, tool.timeout) == ("remote", "Echoes.", 5)
    assert tool.parameters == {"type": "object", "properties": {}}
    assert "s3cret" not in repr(tool)
    result = await tool.run({"q": "lamps", "n": 2})
    assert result["method"] == "POST"
    assert result["content_type"] == "application/json"
    assert result["authorization"] == "Bearer s3cret"
    assert json.loads(result["body"]) == {"q": "lamps", "n": 2}


async def test_parameters_from_the_component(local_server: LocalServer) -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    tool = build_tool(http_component(local_server.url("/echo"), parameters=schema))
    assert tool.parameters == schema


async def test_text_replies_are_text(local_server: LocalServer) -> None:
    tool = HttpTool(name="remote", url=local_server.url("/text"))
    assert await tool.run({}) == "plain answer"


async def test_error_statuses_raise_with_an_excerpt(local_server: LocalServer) -> None:
    tool = HttpTool(name="remote", url=local_server.url("/status/502"))
    with pytest.raises(ToolError) as caught:
        await tool.run({})
    message = str(caught.value)
    assert "HTTP 502" in message
    assert "boom: something went wrong" in message
    assert len(message) < 400


async def test_redirects_are_not_followed(local_server: LocalServer) -> None:
    tool = HttpTool(name="remote", url=local_server.url("/redirect?to=/echo"))
    with pytest.raises(ToolError, match="HTTP 302"):
        await tool.run({})


async def test_oversized_replies_are_refused(local_server: LocalServer) -> None:
    tool = HttpTool(name="remote", url=local_server.url("/big"), max_response_bytes=10_000)
    with pytest.raises(ToolError, match="exceeds 10000 bytes"):
        await tool.run({})


async def test_connection_failures_are_tool_errors() -> None:
    tool = HttpTool(name="remote", url="http://127.0.0.1:1/", timeout=2)
    with pytest.raises(ToolError, match="the remote endpoint failed"):
        await tool.run({})


def test_refuses_non_http_urls() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        HttpTool(name="remote", url="file:///etc/passwd")
    with pytest.raises(ValueError, match="http:// or https://"):
        HttpTool(name="remote", url="ftp://example.com/")
