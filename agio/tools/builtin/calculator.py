"""The `calculator` tool: safe arithmetic (`agio.domain.arithmetic`), never `eval`.

Only numbers, `+ - * / // % **`, unary `+`/`-`, parentheses, the constants `pi` and `e`
and a short list of math functions are understood. Every step is bounded (input length,
nesting depth, exponent size, integer size, finite floats) so that no expression can
exhaust CPU or memory.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from agio.domain import arithmetic
from agio.domain.arithmetic import (
    MAX_EXPRESSION_LENGTH,
    ExpressionError,
    Number,
    extract_arithmetic,
    is_arithmetic,
)
from agio.tools.base import ToolError
from agio.tools.function import json_schema, parse_arguments

__all__ = ["CalculatorTool", "evaluate", "extract_arithmetic", "is_arithmetic"]

DEFAULT_DESCRIPTION = (
    "Evaluate an arithmetic expression exactly: numbers, + - * / // % **, parentheses, "
    "pi, e and the functions sqrt, abs, round, min, max, floor, ceil, log, log10, sin, "
    "cos, tan. Example: (2 + 3) * 4."
)


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; anything unsupported raises `ToolError`."""
    try:
        return arithmetic.evaluate(expression)
    except ExpressionError as exc:
        raise ToolError(str(exc)) from None


# --------------------------------------------------------------------- the tool


class CalculatorArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expression: Annotated[
        str,
        Field(
            max_length=MAX_EXPRESSION_LENGTH,
            description="The arithmetic expression, e.g. `(2 + 3) * 4` or `sqrt(2) * pi`.",
        ),
    ]


class CalculatorTool:
    """Evaluates arithmetic safely; returns `{"expression": ..., "result": ...}`."""

    def __init__(
        self,
        *,
        name: str = "calculator",
        description: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.description = description or DEFAULT_DESCRIPTION
        self.timeout = timeout
        self.parameters = json_schema(CalculatorArguments)

    async def run(self, arguments: dict[str, Any]) -> dict[str, Any]:
        parsed = parse_arguments(CalculatorArguments, arguments, tool=self.name)
        return {"expression": parsed.expression, "result": evaluate(parsed.expression)}
