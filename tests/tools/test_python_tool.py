"""Loading `python` tool components by import path."""

from __future__ import annotations

from typing import Any

import pytest

from agio.config.components import ToolComponent
from agio.tools.base import Tool, ToolError
from agio.tools.python_tool import import_callable, load_python_tool
from agio.tools.registry import ToolLoadError


def component(import_path: str, **fields: Any) -> ToolComponent:
    return ToolComponent(name="adder", kind="python", import_path=import_path, **fields)


async def test_loads_a_function() -> None:
    tool = load_python_tool(component("tests.tools.sample_tools:add"))
    assert isinstance(tool, Tool)
    assert tool.name == "adder"
    assert tool.description == "Add two integers."
    assert tool.timeout == 30.0
    assert tool.parameters["required"] == ["a"]
    assert tool.parameters["properties"]["a"]["description"] == "The first number."
    assert await tool.run({"a": 2, "b": 3}) == 5
    assert await tool.run({"a": 2}) == 3
    with pytest.raises(ToolError, match="a: Input should be a valid integer"):
        await tool.run({"a": "two"})


async def test_component_settings_win() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    tool = load_python_tool(
        component(
            "tests.tools.sample_tools:add",
            description="Sums numbers.",
            timeout=2.5,
            parameters=schema,
        )
    )
    assert (tool.description, tool.timeout, tool.parameters) == ("Sums numbers.", 2.5, schema)


async def test_loads_an_async_function() -> None:
    tool = load_python_tool(component("tests.tools.sample_tools:shout"))
    assert await tool.run({"text": "hi", "times": 2}) == "HI HI"


@pytest.mark.parametrize(
    ("import_path", "message"),
    [
        ("tests.tools.no_such_module:add", "cannot import module 'tests.tools.no_such_module'"),
        ("tests.tools.broken_tool_module:run", "RuntimeError: broken on purpose"),
        ("tests.tools.sample_tools:missing", "has no attribute 'missing'"),
        ("tests.tools.sample_tools:NOT_CALLABLE", "is not callable"),
        ("tests.tools.sample_tools:variadic", "cannot make a tool"),
    ],
)
def test_load_errors(import_path: str, message: str) -> None:
    with pytest.raises(ToolLoadError, match=message):
        load_python_tool(component(import_path))


def test_import_callable() -> None:
    from tests.tools.sample_tools import add

    assert import_callable("tests.tools.sample_tools:add") is add
    with pytest.raises(ToolLoadError, match="not of the form"):
        import_callable("tests.tools.sample_tools.add")
