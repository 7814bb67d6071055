"""`python` tools: a callable at `package.module:function`, wrapped by `function_tool`.

Wrapping a callable builds a pydantic model of its signature and that model's JSON schema,
which costs far more than the rest of setting a run up, so the tools are cached: keyed by
the component's whole configuration (any change to the component, in a new revision, gives
a new key) and by the callable found at the import path (looked up on every load, so a
module that is reloaded or patched gives a new tool too). The cache is bounded (least
recently used first out). A `FunctionTool` keeps no state between calls, so runs share it.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable
from typing import Any

from agio.config.components import ToolComponent, dump_component
from agio.tools.base import ToolLoadError
from agio.tools.function import FunctionTool, function_tool

CACHE_SIZE = 256


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


def _wrap(component: ToolComponent, target: Callable[..., Any]) -> FunctionTool:
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


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cached(config: str, target: Callable[..., Any]) -> FunctionTool:
    return _wrap(ToolComponent.model_validate_json(config), target)


def load_python_tool(component: ToolComponent) -> FunctionTool:
    """The tool a `python` component describes: the callable at its `import_path`, named
    after the component, with the component's description, schema and timeout when set
    (from the cache when the same component and callable were loaded before)."""
    if component.import_path is None:
        raise ToolLoadError(f"tool {component.name!r} has no `import_path`")
    target = import_callable(component.import_path)
    if not callable(target):
        raise ToolLoadError(f"{component.import_path!r} is not callable")
    config = json.dumps(dump_component(component, reveal_secrets=True), sort_keys=True)
    try:
        hash(target)
    except TypeError:  # an unhashable callable object cannot be a cache key
        return _wrap(component, target)
    return _cached(config, target)
