"""Building tools from `tool` components: built-in (in a `ToolEnvironment`), python, http."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agio.config.components import ToolComponent
from agio.tools.base import Tool, ToolLoadError
from agio.tools.builtin.calculator import CalculatorTool
from agio.tools.builtin.current_time import CurrentTimeTool
from agio.tools.builtin.edit_file import EditFileOptions, EditFileTool
from agio.tools.builtin.glob_files import GlobOptions, GlobTool
from agio.tools.builtin.grep import GrepOptions, GrepTool
from agio.tools.builtin.http_request import HttpRequestOptions, HttpRequestTool
from agio.tools.builtin.list_files import ListFilesOptions, ListFilesTool
from agio.tools.builtin.read_file import ReadFileOptions, ReadFileTool
from agio.tools.builtin.web_fetch import WebFetchOptions, WebFetchTool
from agio.tools.builtin.workspace_tool import WorkspaceOptions, WorkspaceTool
from agio.tools.builtin.write_file import WriteFileOptions, WriteFileTool
from agio.tools.environment import ToolEnvironment
from agio.tools.function import format_validation_error
from agio.tools.http_tool import HttpTool
from agio.tools.python_tool import load_python_tool

__all__ = ["ToolEnvironment", "ToolLoadError", "build_tool"]

#: the workspace tools: each builtin name's class and the model of its `options`
WORKSPACE_TOOLS: dict[str, tuple[type[WorkspaceTool[Any, Any]], type[WorkspaceOptions]]] = {
    "read_file": (ReadFileTool, ReadFileOptions),
    "write_file": (WriteFileTool, WriteFileOptions),
    "edit_file": (EditFileTool, EditFileOptions),
    "list_files": (ListFilesTool, ListFilesOptions),
    "glob": (GlobTool, GlobOptions),
    "grep": (GrepTool, GrepOptions),
}


class _NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _options(component: ToolComponent, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(component.options)
    except ValidationError as exc:
        raise ToolLoadError(
            f"tool {component.name!r}: invalid options: {format_validation_error(exc)}"
        ) from None


def _builtin(component: ToolComponent, environment: ToolEnvironment) -> Tool:
    common: Mapping[str, Any] = {
        "name": component.name,
        "description": component.description or None,
        "timeout": component.timeout,
    }
    builtin = component.builtin or ""
    tool: Tool
    if builtin == "calculator":
        _options(component, _NoOptions)
        tool = CalculatorTool(**common)
    elif builtin == "current_time":
        _options(component, _NoOptions)
        tool = CurrentTimeTool(**common)
    elif builtin == "http_request":
        options: HttpRequestOptions = _options(component, HttpRequestOptions)
        tool = HttpRequestTool(
            enabled=environment.enable_http_request,
            policy=environment.guard_policy,
            max_response_bytes=options.max_response_bytes,
            **common,
        )
    elif builtin == "web_fetch":
        tool = WebFetchTool(
            enabled=environment.enable_web_fetch,
            policy=environment.guard_policy,
            options=_options(component, WebFetchOptions),
            **common,
        )
    elif builtin in WORKSPACE_TOOLS:
        tool_class, options_model = WORKSPACE_TOOLS[builtin]
        tool = tool_class(
            options=_options(component, options_model),
            workspace_root=environment.workspace_root,
            **common,
        )
    else:
        raise ToolLoadError(f"tool {component.name!r}: unknown builtin {component.builtin!r}")
    return tool


def build_tool(component: ToolComponent, environment: ToolEnvironment | None = None) -> Tool:
    """The tool `component` describes. Its name is the component's name; its description
    and timeout are the component's (the tool's own description when that is empty);
    `parameters`, when set, is the schema the model is shown. `environment` is what the
    server lets built-in tools do (default: nothing risky). Raises `ToolLoadError`."""
    if component.kind == "builtin":
        tool = _builtin(component, environment or ToolEnvironment())
        if component.parameters is not None:
            tool.parameters = component.parameters
        return tool
    if component.kind == "python":
        return load_python_tool(component)
    if component.kind == "http":
        if component.url is None:
            raise ToolLoadError(f"tool {component.name!r} has no `url`")
        try:
            return HttpTool(
                name=component.name,
                url=component.url,
                description=component.description,
                headers={key: value.get_secret_value() for key, value in component.headers.items()},
                parameters=component.parameters,
                timeout=component.timeout,
            )
        except ValueError as exc:
            raise ToolLoadError(f"tool {component.name!r}: {exc}") from None
    raise ToolLoadError(f"tool {component.name!r}: unknown kind {component.kind!r}")
