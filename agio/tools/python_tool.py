"""`python` tools: a callable at `package.module:function`, wrapped by `function_tool`."""

from __future__ import annotations

import importlib

from agio.config.components import ToolComponent
from agio.tools.function import FunctionTool, function_tool
from agio.tools.registry import ToolLoadError


def import_callable(import_path: str) -> object:
    """The object at `module:attribute`; problems raise `ToolLoadError`."""
    module_name, separator, attribute = import_path.partition(":")
    if not separator or not module_name or not attribute:
        raise ToolLoadError(f"import path {import_path!r} is not of the form 'module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken module can raise anything while it is imported
        raise ToolLoadError(
            f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ToolLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None


def load_python_tool(component: ToolComponent) -> FunctionTool:
    """The tool a `python` component describes: the callable at its `import_path`, named
    after the component, with the component's description, schema and timeout when set."""
    if component.import_path is None:
        raise ToolLoadError(f"tool {component.name!r} has no `import_path`")
    target = import_callable(component.import_path)
    if not callable(target):
        raise ToolLoadError(f"{component.import_path!r} is not callable")
    try:
        return function_tool(
            target,
            name=component.name,
            description=component.description or None,
            timeout=component.timeout,
            parameters=component.parameters,
        )
    except (TypeError, ValueError) as exc:
        raise ToolLoadError(f"cannot make a tool of {component.import_path!r}: {exc}") from exc
