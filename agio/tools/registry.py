"""Building tools from `tool` components: built-in, python and http."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agio.config.components import ToolComponent
from agio.tools.base import Tool, ToolLoadError
from agio.tools.builtin.calculator import CalculatorTool
from agio.tools.builtin.current_time import CurrentTimeTool
from agio.tools.builtin.http_request import HttpRequestOptions, HttpRequestTool
from agio.tools.function import format_validation_error
from agio.tools.http_tool import HttpTool
from agio.tools.python_tool import load_python_tool
from agio.tools.ssrf import GuardPolicy

__all__ = ["ToolLoadError", "build_tool"]


class _NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _options(component: ToolComponent, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(component.options)
    except ValidationError as exc:
        raise ToolLoadError(
            f"tool {component.name!r}: invalid options: {format_validation_error(exc)}"
        ) from None


def _builtin(
    component: ToolComponent, *, enable_http_request: bool, guard_policy: GuardPolicy | None
) -> Tool:
    common: Mapping[str, Any] = {
        "name": component.name,
        "description": component.description or None,
        "timeout": component.timeout,
    }
    tool: Tool
    if component.builtin == "calculator":
        _options(component, _NoOptions)
        tool = CalculatorTool(**common)
    elif component.builtin == "current_time":
        _options(component, _NoOptions)
        tool = CurrentTimeTool(**common)
    elif component.builtin == "http_request":
        options: HttpRequestOptions = _options(component, HttpRequestOptions)
        tool = HttpRequestTool(
            enabled=enable_http_request,
            policy=guard_policy,
            max_response_bytes=options.max_response_bytes,
            **common,
        )
    else:
        raise ToolLoadError(f"tool {component.name!r}: unknown builtin {component.builtin!r}")
    return tool


def build_tool(
    component: ToolComponent,
    *,
    enable_http_request: bool,
    guard_policy: GuardPolicy | None = None,
) -> Tool:
    """The tool `component` describes. Its name is the component's name; its description
    and timeout are the component's (the tool's own description when that is empty);
    `parameters`, when set, is the schema the model is shown. `enable_http_request` and
    `guard_policy` configure the `http_request` builtin. Raises `ToolLoadError`."""
    if component.kind == "builtin":
        tool = _builtin(
            component, enable_http_request=enable_http_request, guard_policy=guard_policy
        )
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
