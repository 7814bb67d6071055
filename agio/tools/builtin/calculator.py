"""The `calculator` tool: safe arithmetic over Python's `ast`, never `eval`.

Only numbers, `+ - * / // % **`, unary `+`/`-`, parentheses, the constants `pi` and `e`
and a short list of math functions are understood. Every step is bounded (input length,
nesting depth, exponent size, integer size, finite floats) so that no expression can
exhaust CPU or memory.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from agio.tools.base import ToolError
from agio.tools.function import json_schema, parse_arguments

Number = int | float

MAX_EXPRESSION_LENGTH = 500
MAX_DEPTH = 100
MAX_EXPONENT = 1000
MAX_INT_BITS = 4000  # about 10**1200
MAX_ROUND_DIGITS = 100

DEFAULT_DESCRIPTION = (
    "Evaluate an arithmetic expression exactly: numbers, + - * / // % **, parentheses, "
    "pi, e and the functions sqrt, abs, round, min, max, floor, ceil, log, log10, sin, "
    "cos, tan. Example: (2 + 3) * 4."
)

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _round(value: Number, digits: Number | None = None) -> Number:
    if digits is None:
        return round(value)
    if not isinstance(digits, int):
        raise ToolError("round(): the number of digits must be an integer")
    if abs(digits) > MAX_ROUND_DIGITS:
        raise ToolError(f"round(): at most {MAX_ROUND_DIGITS} digits")
    return round(value, digits)


def _log(value: Number, base: Number | None = None) -> float:
    return math.log(value) if base is None else math.log(value, base)


# name -> (implementation, least and most arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (lambda *args: min(args), 1, 100),
    "max": (lambda *args: max(args), 1, 100),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "log": (_log, 1, 2),
    "log10": (math.log10, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
}

_BINARY: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod),
    ast.Pow: ("**", operator.pow),
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Not: "not",
}


def _parse(expression: str) -> ast.expr:
    if not isinstance(expression, str):
        raise ToolError("the expression must be a string")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ToolError(f"expression is too long (at most {MAX_EXPRESSION_LENGTH} characters)")
    if not expression.strip():
        raise ToolError("the expression is empty")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"invalid expression: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError):
        raise ToolError("invalid expression") from None
    return tree.body


def _check_number(value: Any) -> Number:
    """Every intermediate result: a real, finite number of bounded size."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError("the result is not a real number")
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise ToolError("the result is too large")
    elif not math.isfinite(value):
        raise ToolError("the result is not a finite number")
    return value


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"exponent too large (at most {MAX_EXPONENT} in absolute value)")
    # an int power has more than (bits - 1) * exponent bits: refuse before computing it
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and (abs(base).bit_length() - 1) * exponent >= MAX_INT_BITS
    ):
        raise ToolError("the result is too large")


def _operator_name(op: ast.AST) -> str:
    symbol = _OPERATOR_SYMBOLS.get(type(op))
    if symbol == "^":
        return "'^' (use ** for powers)"
    return f"'{symbol}'" if symbol else type(op).__name__


class _Evaluator:
    """Walks an expression tree; `dry_run` only checks the structure (no arithmetic)."""

    def __init__(self, *, dry_run: bool = False) -> None:
        self.dry_run = dry_run

    def visit(self, node: ast.expr, depth: int = 0) -> Number:
        if depth > MAX_DEPTH:
            raise ToolError(f"expression is nested too deeply (at most {MAX_DEPTH} levels)")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ToolError(f"unsupported value {value!r}: only numbers are allowed")
            return _check_number(value)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            unary = _UNARY.get(type(node.op))
            if unary is None:
                raise ToolError(f"unsupported operator {_operator_name(node.op)}")
            operand = self.visit(node.operand, depth + 1)
            return operand if self.dry_run else _check_number(unary(operand))
        if isinstance(node, ast.BinOp):
            return self._binary(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        raise ToolError(f"unsupported syntax: {type(node).__name__}")

    def _name(self, node: ast.Name) -> Number:
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise ToolError(f"'{node.id}' is a function: call it, e.g. {node.id}(2)")
        raise ToolError(f"unknown name '{node.id}'")

    def _binary(self, node: ast.BinOp, depth: int) -> Number:
        entry = _BINARY.get(type(node.op))
        if entry is None:
            raise ToolError(f"unsupported operator {_operator_name(node.op)}")
        symbol, function = entry
        left = self.visit(node.left, depth + 1)
        right = self.visit(node.right, depth + 1)
        if self.dry_run:
            return 0
        if symbol == "**":
            _check_power(left, right)
        try:
            result = function(left, right)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("the result is too large") from None
        return _check_number(result)

    def _call(self, node: ast.Call, depth: int) -> Number:
        if not isinstance(node.func, ast.Name):
            raise ToolError("only the listed functions can be called, e.g. sqrt(2)")
        name = node.func.id
        if name not in FUNCTIONS:
            if name in CONSTANTS:
                raise ToolError(f"'{name}' is a constant, not a function")
            raise ToolError(f"unknown function '{name}'")
        if node.keywords:
            raise ToolError(f"{name}() takes no keyword arguments")
        function, least, most = FUNCTIONS[name]
        if not least <= len(node.args) <= most:
            expected = str(least) if least == most else f"{least} to {most}"
            raise ToolError(f"{name}() takes {expected} argument(s), got {len(node.args)}")
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise ToolError("unsupported syntax: Starred")
            args.append(self.visit(arg, depth + 1))
        if self.dry_run:
            return 0
        try:
            result = function(*args)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("the result is too large") from None
        except (ValueError, TypeError) as exc:
            raise ToolError(f"{name}(): {exc}") from None
        return _check_number(result)


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; anything unsupported raises `ToolError`."""
    return _Evaluator().visit(_parse(expression))


def is_arithmetic(expression: str) -> bool:
    """Whether `expression` is something the calculator understands (not evaluated)."""
    try:
        _Evaluator(dry_run=True).visit(_parse(expression))
    except ToolError:
        return False
    return True


# --------------------------------------------------------------------- extraction

_FUNCTION_NAMES = "|".join(sorted(FUNCTIONS, key=len, reverse=True))
_TOKEN = re.compile(
    r"(?P<number>(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?(?!\w))"
    r"|(?P<operator>\*\*|//|[-+*/%])"
    r"|(?P<paren>[()])"
    r"|(?P<comma>,)"
    rf"|(?P<name>\b(?:{_FUNCTION_NAMES}|pi|e)\b)"
    r"|(?P<space>[ \t]+)"
)
_UNICODE_OPERATORS = str.maketrans({"×": "*", "÷": "/", "−": "-", "–": "-"})  # noqa: RUF001
_LEADING_JUNK = {"operator", "comma", "space"}
_TRAILING_JUNK = {"operator", "comma", "space", "paren_open"}


def _runs(text: str) -> list[list[tuple[str, str]]]:
    """Maximal stretches of `text` made only of arithmetic tokens, as (kind, text) pairs."""
    runs: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    end = -1
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or ""
        value = match.group()
        if kind == "paren":
            kind = "paren_open" if value == "(" else "paren_close"
        if match.start() != end and current:
            runs.append(current)
            current = []
        current.append((kind, value))
        end = match.end()
    if current:
        runs.append(current)
    return runs


def _trim(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop what cannot start or end an expression, and unbalanced parentheses."""
    tokens = list(tokens)
    changed = True
    while tokens and changed:
        changed = False
        kind, value = tokens[0]
        if (kind in _LEADING_JUNK and value not in ("-", "+")) or kind == "paren_close":
            tokens.pop(0)
            changed = True
            continue
        if tokens[-1][0] in _TRAILING_JUNK:
            tokens.pop()
            changed = True
            continue
        opened = sum(1 for kind, _ in tokens if kind == "paren_open")
        closed = sum(1 for kind, _ in tokens if kind == "paren_close")
        if opened > closed and tokens[0][0] == "paren_open":
            tokens.pop(0)
            changed = True
        elif closed > opened and tokens[-1][0] == "paren_close":
            tokens.pop()
            changed = True
    return tokens


def _is_computation(candidate: str) -> bool:
    """Has a digit and something to compute (an operator or a function call)."""
    if not any(char.isdigit() for char in candidate):
        return False
    try:
        tree = ast.parse(candidate, mode="eval")
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.BinOp | ast.Call) for node in ast.walk(tree))


def extract_arithmetic(text: str) -> str | None:
    """The longest arithmetic expression in free text, e.g. "What is (2 + 3) * 4?" gives
    "(2 + 3) * 4"; None when there is none (a bare number is not a computation)."""
    best: str | None = None
    for run in _runs(text.translate(_UNICODE_OPERATORS)):
        candidate = "".join(value for _, value in _trim(run)).strip()
        if not candidate or len(candidate) > MAX_EXPRESSION_LENGTH:
            continue
        longer = best is None or len(candidate) > len(best)
        if longer and _is_computation(candidate) and is_arithmetic(candidate):
            best = candidate
    return best


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
