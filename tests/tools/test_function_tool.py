"""function_tool / pydantic_tool: schemas from type hints, validation, sync and async calls."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from agio.tools.base import Tool, ToolError, tool_spec
from agio.tools.function import FunctionTool, PydanticTool, function_tool, pydantic_tool


class Point(BaseModel):
    x: float
    y: float


def search(
    query: Annotated[str, Field(description="What to look for.", min_length=1)],
    limit: Annotated[int, Field(description="How many results.", ge=1, le=50)] = 10,
    *,
    mode: Literal["fast", "exact"] = "fast",
    origin: Point | None = None,
) -> dict[str, Any]:
    """Search the catalogue.

    Longer explanation that is not part of the description.
    """
    return {"query": query, "limit": limit, "mode": mode, "origin": origin}


def test_schema_from_signature() -> None:
    tool = function_tool(search)
    assert isinstance(tool, Tool)
    assert tool.name == "search"
    assert tool.description == "Search the catalogue."
    assert tool.timeout == 30.0
    schema = tool.parameters
    assert schema["type"] == "object"
    assert schema["required"] == ["query"]
    assert schema["additionalProperties"] is False
    assert "title" not in schema
    properties = schema["properties"]
    assert list(properties) == ["query", "limit", "mode", "origin"]
    assert properties["query"] == {
        "type": "string",
        "description": "What to look for.",
        "minLength": 1,
    }
    assert properties["limit"] == {
        "type": "integer",
        "description": "How many results.",
        "minimum": 1,
        "maximum": 50,
        "default": 10,
    }
    assert properties["mode"]["enum"] == ["fast", "exact"]
    assert "Point" in schema["$defs"]
    assert "title" not in schema["$defs"]["Point"]
    assert tool_spec(tool).parameters == schema


async def test_validated_call() -> None:
    tool = function_tool(search)
    result = await tool.run({"query": "lamps", "limit": "5", "origin": {"x": 1, "y": 2}})
    assert result == {"query": "lamps", "limit": 5, "mode": "fast", "origin": Point(x=1, y=2)}
    result = await tool.run({"query": "lamps", "mode": "exact"})
    assert result["mode"] == "exact"
    assert result["limit"] == 10


async def test_validation_errors_list_the_fields() -> None:
    tool = function_tool(search)
    with pytest.raises(ToolError) as caught:
        await tool.run({"limit": 0, "mode": "slow", "origin": {"x": 1}, "colour": "red"})
    message = str(caught.value)
    assert message.startswith("invalid arguments for tool 'search': ")
    for part in ("query: Field required", "limit: ", "mode: ", "origin.y: Field required"):
        assert part in message
    assert "colour: Extra inputs are not permitted" in message


async def test_sync_functions_run_in_a_thread() -> None:
    main_thread = threading.get_ident()

    def where() -> int:
        """Which thread runs me."""
        return threading.get_ident()

    assert await function_tool(where).run({}) != main_thread


async def test_async_functions_are_awaited_on_the_loop() -> None:
    main_thread = threading.get_ident()

    async def where(delay: float = 0) -> int:
        await asyncio.sleep(delay)
        return threading.get_ident()

    assert await function_tool(where).run({"delay": 0.001}) == main_thread


async def test_async_callable_object_and_unannotated_parameters() -> None:
    class Greeter:
        async def __call__(self, name, punctuation: str = "!"):  # type: ignore[no-untyped-def]
            return f"hello {name}{punctuation}"

    tool = function_tool(Greeter(), name="greet", description="Greets.")
    assert tool.name == "greet"
    assert tool.parameters["required"] == ["name"]
    assert await tool.run({"name": 3}) == "hello 3!"


async def test_awkward_parameter_names_and_positional_only() -> None:
    def awkward(json: str, _private: int, /, model_config: bool = False) -> list[Any]:
        return [json, _private, model_config]

    tool = function_tool(awkward)
    assert set(tool.parameters["properties"]) == {"json", "_private", "model_config"}
    assert await tool.run({"json": "x", "_private": 2}) == ["x", 2, False]
    assert await tool.run({"json": "x", "_private": 2, "model_config": True}) == ["x", 2, True]


async def test_overrides() -> None:
    schema = {"type": "object", "properties": {"query": {"type": "string"}}}
    tool = function_tool(
        search, name="find", description="Find things.", timeout=3, parameters=schema
    )
    assert (tool.name, tool.description, tool.timeout, tool.parameters) == (
        "find",
        "Find things.",
        3,
        schema,
    )
    # the signature still decides what is valid
    with pytest.raises(ToolError, match="query: Field required"):
        await tool.run({})


async def test_exceptions_propagate() -> None:
    def fails(reason: str) -> None:
        raise ToolError(reason)

    with pytest.raises(ToolError, match="nope"):
        await function_tool(fails).run({"reason": "nope"})


def test_no_docstring_means_empty_description() -> None:
    def bare(x: int) -> int:
        return x

    assert function_tool(bare).description == ""


def test_unsupported_signatures_and_names() -> None:
    def variadic(*numbers: int) -> int:
        return sum(numbers)

    def keywords(**options: str) -> None:
        return None

    with pytest.raises(TypeError, match=r"\*args/\*\*kwargs"):
        function_tool(variadic)
    with pytest.raises(TypeError, match=r"\*args/\*\*kwargs"):
        function_tool(keywords)
    with pytest.raises(ValueError, match="invalid tool name"):
        function_tool(lambda: 1)
    with pytest.raises(ValueError, match="invalid tool name"):
        function_tool(search, name="has space")
    with pytest.raises(TypeError, match="not callable"):
        FunctionTool(42)  # type: ignore[arg-type]
    assert function_tool(lambda: 1, name="one").name == "one"


def test_unresolvable_type_hints() -> None:
    def broken(x: UndefinedType) -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(TypeError, match="cannot read the type hints"):
        function_tool(broken)


class Move(BaseModel):
    """Move a point."""

    point: Point
    dx: Annotated[float, Field(description="Horizontal offset.")] = 0.0
    dy: float = 0.0


async def test_pydantic_tool() -> None:
    async def move(arguments: Move) -> dict[str, float]:
        return {"x": arguments.point.x + arguments.dx, "y": arguments.point.y + arguments.dy}

    tool = pydantic_tool(Move, move)
    assert isinstance(tool, PydanticTool)
    assert isinstance(tool, Tool)
    assert tool.name == "move"
    assert tool.description == "Move a point."
    assert tool.parameters["required"] == ["point"]
    assert tool.parameters["properties"]["dx"]["description"] == "Horizontal offset."
    assert await tool.run({"point": {"x": 1, "y": 1}, "dx": 2}) == {"x": 3.0, "y": 1.0}
    with pytest.raises(ToolError, match=r"point\.x: Field required"):
        await tool.run({"point": {"y": 1}})


async def test_pydantic_tool_sync() -> None:
    def describe(arguments: Move) -> str:
        """Describe a move."""
        return f"{arguments.dx},{arguments.dy}"

    tool = pydantic_tool(Move, describe, name="describe_move", timeout=1)
    assert (tool.name, tool.description, tool.timeout) == ("describe_move", "Describe a move.", 1)
    assert await tool.run({"point": {"x": 0, "y": 0}, "dy": 1}) == "0.0,1.0"


async def test_classes_and_partials() -> None:
    class Box:
        """A box of a given size."""

        def __init__(self, size: int) -> None:
            self.size = size

    tool = function_tool(Box)
    assert tool.parameters["properties"]["size"]["type"] == "integer"
    assert tool.description == "A box of a given size."
    assert (await tool.run({"size": "3"})).size == 3

    async def scale(value: float, factor: float) -> float:
        return value * factor

    double = function_tool(functools.partial(scale, factor=2.0), name="double")
    assert double.parameters["properties"]["factor"]["default"] == 2.0
    assert await double.run({"value": 4}) == 8.0
