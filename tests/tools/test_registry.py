"""build_tool: components to tools for every kind and builtin."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest

from agio.config.components import ToolComponent
from agio.tools.base import Tool, ToolError
from agio.tools.builtin.calculator import CalculatorTool
from agio.tools.builtin.current_time import CurrentTimeTool
from agio.tools.builtin.http_request import HttpRequestTool
from agio.tools.environment import ToolEnvironment
from agio.tools.function import FunctionTool
from agio.tools.registry import ToolLoadError, build_tool
from tests.tools.conftest import LocalServer


def tool_component(**fields: Any) -> ToolComponent:
    return ToolComponent.model_validate({"name": "my_tool", **fields})


@pytest.mark.parametrize(
    ("builtin", "cls"),
    [
        ("calculator", CalculatorTool),
        ("current_time", CurrentTimeTool),
        ("http_request", HttpRequestTool),
    ],
)
def test_builtins(builtin: str, cls: type) -> None:
    tool = build_tool(tool_component(kind="builtin", builtin=builtin, timeout=7))
    assert isinstance(tool, cls)
    assert isinstance(tool, Tool)
    assert tool.name == "my_tool"
    assert tool.timeout == 7
    assert tool.description  # the tool's own description when the component has none


def test_component_description_and_parameters_win() -> None:
    schema = {"type": "object", "properties": {"expression": {"type": "string"}}}
    tool = build_tool(
        tool_component(
            kind="builtin", builtin="calculator", description="Do maths.", parameters=schema
        )
    )
    assert tool.description == "Do maths."
    assert tool.parameters == schema


async def test_calculator_runs() -> None:
    tool = build_tool(tool_component(kind="builtin", builtin="calculator"))
    assert await tool.run({"expression": "6*7"}) == {"expression": "6*7", "result": 42}


async def test_http_request_enablement_and_policy(local_server: LocalServer) -> None:
    component = tool_component(
        kind="builtin", builtin="http_request", options={"max_response_bytes": 5}
    )
    disabled = build_tool(component)
    with pytest.raises(ToolError, match="AGIO_ENABLE_HTTP_REQUEST_TOOL"):
        await disabled.run({"url": local_server.url("/hello")})

    default_policy = build_tool(component, ToolEnvironment(enable_http_request=True))
    with pytest.raises(ToolError, match="loopback"):
        await default_policy.run({"url": local_server.url("/hello")})

    allowed = ToolEnvironment(
        enable_http_request=True, allowed_networks=(ip_network("127.0.0.1/32"),)
    )
    tool = build_tool(component, allowed)
    result = await tool.run({"url": local_server.url("/hello")})
    assert (result["body"], result["truncated"]) == ("hello", True)


@pytest.mark.parametrize(
    ("builtin", "options", "message"),
    [
        ("calculator", {"precision": 3}, "precision: Extra inputs"),
        ("current_time", {"zone": "UTC"}, "zone: Extra inputs"),
        ("http_request", {"max_response_bytes": 0}, "max_response_bytes: "),
        ("http_request", {"allow_private": True}, "allow_private: Extra inputs"),
    ],
)
def test_bad_options(builtin: str, options: dict[str, Any], message: str) -> None:
    component = tool_component(kind="builtin", builtin=builtin, options=options)
    with pytest.raises(ToolLoadError, match=message):
        build_tool(component, ToolEnvironment(enable_http_request=True))


async def test_python_tools() -> None:
    component = tool_component(kind="python", import_path="tests.tools.sample_tools:add", timeout=3)
    tool = build_tool(component)
    assert isinstance(tool, FunctionTool)
    assert (tool.name, tool.description, tool.timeout) == ("my_tool", "Add two integers.", 3)
    assert await tool.run({"a": 40, "b": 2}) == 42
    with pytest.raises(ToolLoadError, match="cannot import"):
        build_tool(tool_component(kind="python", import_path="tests.tools.nowhere:add"))


def test_http_tools() -> None:
    tool = build_tool(tool_component(kind="http", url="https://tools.example.com/run"))
    assert tool.name == "my_tool"
    assert tool.description == ""
