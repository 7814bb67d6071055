"""The `Tool` protocol."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from agio.domain.messages import ToolSpec


class ToolError(Exception):
    """A tool failed in a way worth telling the model (bad arguments, refused URL, …)."""


class ToolLoadError(Exception):
    """A tool component cannot be turned into a tool (bad import path, options, URL…)."""


@runtime_checkable
class Tool(Protocol):
    """Something an agent can call. `run` gets the validated-as-JSON arguments object and
    returns a JSON-serialisable result; the runtime applies `timeout` around it."""

    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    timeout: float

    async def run(self, arguments: dict[str, Any]) -> Any: ...


def tool_spec(tool: Tool) -> ToolSpec:
    return ToolSpec(name=tool.name, description=tool.description, parameters=tool.parameters)
