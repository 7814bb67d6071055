"""Python callables as tools: JSON schema from type hints, arguments validated by pydantic.

`function_tool(fn)` describes each parameter of `fn` as a property of the arguments
object; `pydantic_tool(Model, fn)` uses a pydantic model as the whole arguments object
and passes `fn` one validated instance. Sync callables run in a worker thread so they
never block the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from agio.tools.base import ToolError

M = TypeVar("M", bound=BaseModel)

TOOL_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_TOOL_NAME = re.compile(TOOL_NAME_PATTERN)

# Keys whose values are data, not sub-schemas: left exactly as they are.
_DATA_KEYS = frozenset({"default", "examples", "example", "const", "enum"})
# Keys whose values map names to sub-schemas: the names are never dropped.
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem, `field.path: message`, for error text a model can act on."""
    problems = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        problems.append(f"{location}: {error['msg']}")
    return "; ".join(problems)


def parse_arguments(model: type[M], arguments: Mapping[str, Any], *, tool: str) -> M:
    """Validate a tool's arguments object with `model`; problems become a `ToolError`."""
    try:
        return model.model_validate(dict(arguments))
    except ValidationError as exc:
        message = f"invalid arguments for tool '{tool}': {format_validation_error(exc)}"
        raise ToolError(message) from None


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of `model` without pydantic's generated `title`s (noise for a model)."""
    schema = _strip_titles(model.model_json_schema())
    assert isinstance(schema, dict)
    schema.setdefault("properties", {})
    return schema


def _strip_titles(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip_titles(item) for item in node]
    if not isinstance(node, dict):
        return node
    cleaned: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _DATA_KEYS:
            cleaned[key] = value
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            cleaned[key] = {name: _strip_titles(sub) for name, sub in value.items()}
        else:
            cleaned[key] = _strip_titles(value)
    return cleaned


def check_tool_name(name: str) -> str:
    """Tool names go to model APIs, which accept letters, digits, `_` and `-` only."""
    if not _TOOL_NAME.fullmatch(name):
        raise ValueError(f"invalid tool name {name!r}: use 1-64 letters, digits, '_' or '-'")
    return name


def docstring_summary(obj: Any) -> str:
    """The first paragraph of `obj`'s docstring on one line ("" when it has none)."""
    doc = inspect.getdoc(obj)
    if not doc:
        return ""
    first = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0]
    return " ".join(first.split())


def _is_async_callable(fn: Callable[..., Any]) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - callable instances with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


async def _invoke(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    if _is_async_callable(fn):
        result = await fn(*args, **kwargs)
    else:
        result = await asyncio.to_thread(fn, *args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def _default_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str):
        name = type(fn).__name__
    return name


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.isclass(target):
        target = target.__init__
    elif not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(target, "__call__", target)  # noqa: B004
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # unresolvable forward references and the like
        raise TypeError(f"cannot read the type hints of {fn!r}: {exc}") from exc


def _signature_model(
    fn: Callable[..., Any], model_name: str
) -> tuple[type[BaseModel], list[tuple[str, str, bool]]]:
    """A pydantic model of `fn`'s parameters, and (field, parameter, positional-only)
    for each, in order. Fields have neutral names and the parameter name as alias, so parameters
    like `json` or `_private` cannot clash with pydantic's own attributes."""
    signature = inspect.signature(fn)
    hints = _type_hints(fn)
    fields: dict[str, Any] = {}
    binding: list[tuple[str, str, bool]] = []
    for index, parameter in enumerate(signature.parameters.values()):
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(
                f"{model_name}: *args/**kwargs parameters cannot be described as a JSON schema"
            )
        annotation = hints.get(parameter.name, Any)
        if parameter.default is parameter.empty:
            info = Field(alias=parameter.name)
        else:
            info = Field(default=parameter.default, alias=parameter.name)
        field = f"p{index}"
        fields[field] = (annotation, info)
        binding.append((field, parameter.name, parameter.kind == parameter.POSITIONAL_ONLY))
    model = create_model(
        model_name,
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return model, binding


class FunctionTool:
    """A tool that calls a typed Python function (sync or async) with validated arguments.

    A sync function runs in a worker thread; when the runtime's timeout expires the call
    is abandoned, but a thread cannot be interrupted, so it finishes in the background.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float = 30.0,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"{fn!r} is not callable")
        self.name = check_tool_name(name or _default_name(fn))
        self.description = description if description is not None else docstring_summary(fn)
        self.timeout = timeout
        self.fn = fn
        self.arguments_model, self._binding = _signature_model(fn, self.name)
        self.parameters = (
            parameters if parameters is not None else json_schema(self.arguments_model)
        )

    async def run(self, arguments: dict[str, Any]) -> Any:
        validated = parse_arguments(self.arguments_model, arguments, tool=self.name)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for field, parameter, positional in self._binding:
            value = getattr(validated, field)
            if positional:
                args.append(value)
            else:
                kwargs[parameter] = value
        return await _invoke(self.fn, args, kwargs)

    def __repr__(self) -> str:
        return f"FunctionTool(name={self.name!r})"


class PydanticTool(Generic[M]):
    """A tool whose arguments object is one pydantic model; `fn` gets the instance."""

    def __init__(
        self,
        model: type[M],
        fn: Callable[[M], Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"{fn!r} is not callable")
        self.name = check_tool_name(name or _default_name(fn))
        if description is None:
            description = docstring_summary(fn) or docstring_summary(model)
        self.description = description
        self.timeout = timeout
        self.fn = fn
        self.arguments_model = model
        self.parameters = json_schema(model)

    async def run(self, arguments: dict[str, Any]) -> Any:
        validated = parse_arguments(self.arguments_model, arguments, tool=self.name)
        return await _invoke(self.fn, [validated], {})

    def __repr__(self) -> str:
        return f"PydanticTool(name={self.name!r}, model={self.arguments_model.__name__})"


def function_tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float = 30.0,
    parameters: dict[str, Any] | None = None,
) -> FunctionTool:
    """Make a tool of `fn`: name from `fn.__name__`, description from the docstring's first
    paragraph, the arguments schema from the type hints (`Annotated[T, Field(...)]`
    descriptions and constraints included) unless `parameters` is given."""
    return FunctionTool(
        fn, name=name, description=description, timeout=timeout, parameters=parameters
    )


def pydantic_tool(
    model: type[M],
    fn: Callable[[M], Any],
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float = 30.0,
) -> PydanticTool[M]:
    """Make a tool whose arguments object is `model`; `fn(instance)` does the work."""
    return PydanticTool(model, fn, name=name, description=description, timeout=timeout)
