"""`mcp` tools: the tools of MCP servers written with the SDK's `MCPServer` (FastMCP's
name in mcp 2), one over stdio (a subprocess) and one over streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agio.config.components import ToolComponent, dump_component
from agio.tools.base import Tool, ToolError
from agio.tools.mcp_link import model_name
from agio.tools.mcp_links import McpLinks
from tests.fakes.fixtures import fake_mcp_http  # noqa: F401
from tests.fakes.mcp_http_server import FakeMcpHttpServer

STDIO_SERVER = str(Path(__file__).resolve().parents[1] / "fakes" / "mcp_stdio_server.py")


def stdio(**fields: Any) -> ToolComponent:
    return ToolComponent.model_validate(
        {
            "name": "local_mcp",
            "kind": "mcp",
            "transport": "stdio",
            "command": sys.executable,
            "args": [STDIO_SERVER],
            **fields,
        }
    )


def http(url: str, **fields: Any) -> ToolComponent:
    return ToolComponent.model_validate(
        {"name": "remote_mcp", "kind": "mcp", "transport": "http", "url": url, **fields}
    )


@pytest.fixture
async def links() -> Any:
    links = McpLinks(connect_timeout=20)
    try:
        yield links
    finally:
        await links.close()


async def test_a_stdio_server_gives_its_tools_with_their_schemas(links: McpLinks) -> None:
    tools = await links.tools(stdio(env={"ECHO_PREFIX": "> "}))
    assert set(tools) == {"echo", "add", "shout", "crash", "pid"}
    echo = tools["echo"]
    assert isinstance(echo, Tool)
    assert echo.description == "Say the text back."
    assert echo.parameters["type"] == "object"
    assert echo.parameters["properties"]["text"]["type"] == "string"
    assert echo.parameters["required"] == ["text"]
    assert await echo.run({"text": "hello"}) == "> hello"  # env reached the server
    assert await tools["add"].run({"a": 2, "b": 40}) == "42"


async def test_include_exclude_and_prefix(links: McpLinks) -> None:
    tools = await links.tools(stdio(include=["echo", "add", "shout"], exclude=["add"]))
    assert set(tools) == {"echo", "shout"}
    prefixed = await links.tools(stdio(name="other", exclude=["crash"], tool_prefix="srv_"))
    assert set(prefixed) == {"srv_echo", "srv_add", "srv_shout", "srv_pid"}
    assert await prefixed["srv_shout"].run({"text": "hi"}) == "HI"


def test_model_names_are_what_model_apis_accept() -> None:
    assert model_name("", "get.weather/now") == "get_weather_now"
    assert model_name("p_", "x" * 100) == "p_" + "x" * 62


async def test_bad_arguments_are_a_tool_error_and_the_server_stays(links: McpLinks) -> None:
    tools = await links.tools(stdio())
    with pytest.raises(ToolError, match="MCP tool 'add' failed"):
        await tools["add"].run({"a": 1, "b": "not a number"})
    pid = await tools["pid"].run({})
    assert await tools["pid"].run({}) == pid  # the same process: nothing was re-made


async def test_a_server_that_dies_mid_call_is_a_tool_error_then_restarts(links: McpLinks) -> None:
    tools = await links.tools(stdio())
    first = await tools["pid"].run({})
    with pytest.raises(ToolError, match="closed the connection during the call"):
        await tools["crash"].run({})
    second = await tools["pid"].run({})  # the next call starts the server again
    assert second != first
    assert await tools["echo"].run({"text": "back"}) == "back"


async def test_a_command_that_cannot_start_lists_nothing_and_calls_fail(links: McpLinks) -> None:
    broken = stdio(command=sys.executable, args=["-c", "import sys; sys.exit(1)"])
    assert await links.tools(broken) == {}
    link = links.link(broken)
    with pytest.raises(ToolError, match="cannot be reached"):
        await link.call("echo", {"text": "x"})


async def test_an_http_server_with_headers_from_secrets(
    links: McpLinks,
    fake_mcp_http: FakeMcpHttpServer,  # noqa: F811
) -> None:
    component = http(fake_mcp_http.url, headers={"Authorization": "Bearer mcp-s3cret"})
    assert "mcp-s3cret" not in str(dump_component(component))
    tools = await links.tools(component)
    assert set(tools) == {"lookup", "whisper", "fail"}
    assert await tools["lookup"].run({"word": "lamp"}) == "lamp has 4 letters"
    with pytest.raises(ToolError, match="the fail tool failed"):
        await tools["fail"].run({})
    assert fake_mcp_http.seen_headers
    assert all(h.get("authorization") == "Bearer mcp-s3cret" for h in fake_mcp_http.seen_headers)


async def test_an_http_server_that_is_down(links: McpLinks) -> None:
    component = http("http://127.0.0.1:1/mcp")
    assert await links.tools(component) == {}
    with pytest.raises(ToolError, match="cannot be reached"):
        await links.link(component).call("lookup", {"word": "x"})


async def test_a_changed_configuration_is_a_new_link_and_the_old_one_closes(
    links: McpLinks,
) -> None:
    old = links.link(stdio())
    assert set(await old.tools()) >= {"echo"}
    new = links.link(stdio(include=["echo"]))
    assert new is not old
    assert old.retired
    assert set(await new.tools()) == {"echo"}
    assert links.link(stdio(include=["echo"], description="no new link")) is new


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"transport": "stdio"}, "needs `command`"),
        ({"transport": "http"}, "needs `url`"),
        ({}, "needs `transport`"),
        ({"transport": "stdio", "command": "x", "url": "http://h/"}, "are for an 'mcp' tool over"),
        ({"transport": "http", "url": "http://h/", "env": {"A": "b"}}, "over stdio"),
        ({"transport": "http", "url": "http://h/", "parameters": {}}, "no `parameters`"),
        ({"transport": "http", "url": "ftp://h/"}, "must be an http"),
        ({"transport": "http", "url": "http://h/", "tool_prefix": "a b"}, "tool_prefix"),
    ],
)
def test_invalid_mcp_components(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ToolComponent.model_validate({"name": "m", "kind": "mcp", **fields})


def test_mcp_fields_belong_to_mcp_tools_only() -> None:
    with pytest.raises(ValidationError, match="`command` is only for kind 'mcp'"):
        ToolComponent.model_validate(
            {"name": "c", "kind": "builtin", "builtin": "calculator", "command": "x"}
        )
    # a dumped non-mcp tool (all fields, defaults included) validates again
    tool = ToolComponent.model_validate({"name": "c", "kind": "builtin", "builtin": "calculator"})
    assert ToolComponent.model_validate(dump_component(tool, reveal_secrets=True)) == tool
