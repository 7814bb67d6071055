"""Safe arithmetic over Python's `ast`, never `eval`: evaluating an expression, and finding
one in free text. Used by the `calculator` tool and the `demo` model, neither of which
imports the other.

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
from typing import Any

Number = int | float


class ExpressionError(ValueError):
    """An expression that is not understood or not allowed; the message says why."""


MAX_EXPRESSION_LENGTH = 500
MAX_DEPTH = 100
MAX_EXPONENT = 1000
MAX_INT_BITS = 4000  # about 10**1200
MAX_ROUND_DIGITS = 100

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _round(value: Number, digits: Number | None = None) -> Number:
    if digits is None:
        return round(value)
    if not isinstance(digits, int):
        raise ExpressionError("round(): the number of digits must be an integer")
    if abs(digits) > MAX_ROUND_DIGITS:
        raise ExpressionError(f"round(): at most {MAX_ROUND_DIGITS} digits")
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
        raise ExpressionError("the expression must be a string")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression is too long (at most {MAX_EXPRESSION_LENGTH} characters)"
        )
    if not expression.strip():
        raise ExpressionError("the expression is empty")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError):
        raise ExpressionError("invalid expression") from None
    return tree.body


def _check_number(value: Any) -> Number:
    """Every intermediate result: a real, finite number of bounded size."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError("the result is not a real number")
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise ExpressionError("the result is too large")
    elif not math.isfinite(value):
        raise ExpressionError("the result is not a finite number")
    return value


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise ExpressionError(f"exponent too large (at most {MAX_EXPONENT} in absolute value)")
    # an int power has more than (bits - 1) * exponent bits: refuse before computing it
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and (abs(base).bit_length() - 1) * exponent >= MAX_INT_BITS
    ):
        raise ExpressionError("the result is too large")


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
            raise ExpressionError(f"expression is nested too deeply (at most {MAX_DEPTH} levels)")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ExpressionError(f"unsupported value {value!r}: only numbers are allowed")
            return _check_number(value)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            unary = _UNARY.get(type(node.op))
            if unary is None:
                raise ExpressionError(f"unsupported operator {_operator_name(node.op)}")
            operand = self.visit(node.operand, depth + 1)
            return operand if self.dry_run else _check_number(unary(operand))
        if isinstance(node, ast.BinOp):
            return self._binary(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        raise ExpressionError(f"unsupported syntax: {type(node).__name__}")

    def _name(self, node: ast.Name) -> Number:
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise ExpressionError(f"'{node.id}' is a function: call it, e.g. {node.id}(2)")
        raise ExpressionError(f"unknown name '{node.id}'")

    def _binary(self, node: ast.BinOp, depth: int) -> Number:
        entry = _BINARY.get(type(node.op))
        if entry is None:
            raise ExpressionError(f"unsupported operator {_operator_name(node.op)}")
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
            raise ExpressionError("division by zero") from None
        except OverflowError:
            raise ExpressionError("the result is too large") from None
        return _check_number(result)

    def _call(self, node: ast.Call, depth: int) -> Number:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError("only the listed functions can be called, e.g. sqrt(2)")
        name = node.func.id
        if name not in FUNCTIONS:
            if name in CONSTANTS:
                raise ExpressionError(f"'{name}' is a constant, not a function")
            raise ExpressionError(f"unknown function '{name}'")
        if node.keywords:
            raise ExpressionError(f"{name}() takes no keyword arguments")
        function, least, most = FUNCTIONS[name]
        if not least <= len(node.args) <= most:
            expected = str(least) if least == most else f"{least} to {most}"
            raise ExpressionError(f"{name}() takes {expected} argument(s), got {len(node.args)}")
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise ExpressionError("unsupported syntax: Starred")
            args.append(self.visit(arg, depth + 1))
        if self.dry_run:
            return 0
        try:
            result = function(*args)
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        except OverflowError:
            raise ExpressionError("the result is too large") from None
        except (ValueError, TypeError) as exc:
            raise ExpressionError(f"{name}(): {exc}") from None
        return _check_number(result)


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; anything unsupported raises `ExpressionError`."""
    return _Evaluator().visit(_parse(expression))


def is_arithmetic(expression: str) -> bool:
    """Whether `expression` is something the calculator understands (not evaluated)."""
    try:
        _Evaluator(dry_run=True).visit(_parse(expression))
    except ExpressionError:
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
