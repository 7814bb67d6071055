"""The calculator: arithmetic, functions, refusals and abuse guards; text extraction."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from agio.tools.base import Tool, ToolError
from agio.tools.builtin.calculator import (
    CalculatorTool,
    evaluate,
    extract_arithmetic,
    is_arithmetic,
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2", 3),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 - 4 - 3", 3),
        ("2 ** 3 ** 2", 512),
        ("-2 ** 2", -4),
        ("(-2) ** 2", 4),
        ("+5", 5),
        ("--5", 5),
        ("-(3 - 5)", 2),
        ("7 / 2", 3.5),
        ("2 / 1", 2.0),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("7.5 % 2", 1.5),
        ("2 ** -1", 0.5),
        ("0.1 + 0.2", 0.1 + 0.2),
        ("1e3 + 1", 1001.0),
        ("1_000 * 3", 3000),
        ("2 ** 100", 2**100),
        (
            "12345678901234567890 * 98765432109876543210",
            12345678901234567890 * 98765432109876543210,
        ),
        ("sqrt(16)", 4.0),
        ("sqrt(2) ** 2", math.sqrt(2) ** 2),
        ("abs(-3)", 3),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ("round(1234, -2)", 1200),
        ("min(3, 1, 2)", 1),
        ("max(3, 1.5)", 3),
        ("max(7)", 7),
        ("floor(2.7)", 2),
        ("ceil(2.1)", 3),
        ("floor(-2.5)", -3),
        ("log(e)", 1.0),
        ("log(8, 2)", 3.0),
        ("log10(1000)", 3.0),
        ("sin(0)", 0.0),
        ("cos(pi)", -1.0),
        ("tan(0)", 0.0),
        ("pi", math.pi),
        ("2 * pi", 2 * math.pi),
        ("  ( 1 + 1 )  ", 2),
    ],
)
def test_evaluates(expression: str, expected: float) -> None:
    result = evaluate(expression)
    assert result == pytest.approx(expected)
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "division by zero"),
        ("1 // 0", "division by zero"),
        ("1 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("1.5 / (2 - 2)", "division by zero"),
        ("log(8, 1)", "division by zero"),
        ("sqrt(-1)", "sqrt()"),
        ("log(0)", "log()"),
        ("round(2.5, 1.5)", "integer"),
        ("", "empty"),
        ("   ", "empty"),
        ("1 +", "invalid expression"),
        ("(1 + 2", "invalid expression"),
        ("1 2", "invalid expression"),
        ("2 ^ 3", "use **"),
        ("1 << 2", "unsupported operator"),
        ("~1", "unsupported operator"),
        ("not 1", "unsupported operator"),
        ("1 < 2", "unsupported syntax"),
        ("1 if 1 else 2", "unsupported syntax"),
        ("[1, 2]", "unsupported syntax"),
        ("(1, 2)", "unsupported syntax"),
        ("x + 1", "unknown name 'x'"),
        ("__import__", "unknown name '__import__'"),
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('true')", "only the listed functions"),
        ("eval('1')", "unknown function 'eval'"),
        ("exec('x = 1')", "unknown function 'exec'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("pow(2, 3)", "unknown function 'pow'"),
        ("math.sqrt(4)", "only the listed functions"),
        ("(1).__class__", "unsupported syntax: Attribute"),
        ("pi.real", "unsupported syntax: Attribute"),
        ("sqrt.__globals__", "unsupported syntax: Attribute"),
        ("(lambda: 1)()", "only the listed functions"),
        ("[x for x in (1, 2)]", "unsupported syntax"),
        ("'a' * 3", "only numbers"),
        ("True + 1", "only numbers"),
        ("None", "only numbers"),
        ("1j * 2", "only numbers"),
        ("sqrt", "is a function"),
        ("pi(2)", "is a constant"),
        ("sqrt()", "takes 1 argument"),
        ("sqrt(1, 2)", "takes 1 argument"),
        ("round(1, 2, 3)", "takes 1 to 2"),
        ("round(2.5, ndigits=1)", "keyword"),
        ("max(*[1, 2])", "Starred"),
        ("1e999", "not a finite number"),
        ("1e308 * 10", "not a finite number"),
        ("x := 1", "invalid expression"),
        ("1; 2", "invalid expression"),
        ("import os", "invalid expression"),
    ],
)
def test_refuses(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=re.escape(message)):
        evaluate(expression)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9**9**9", "exponent too large"),
        ("10**100000", "exponent too large"),
        ("2 ** -5000", "exponent too large"),
        ("2.0 ** 1001", "exponent too large"),
        ("10**999 * 10**999", "too large"),
        ("(10**400) ** 10", "too large"),
        ("(10**500 * 10**500 * 10**500)", "too large"),
        ("10.0 ** 400", "too large"),
        ("(10**400) / 3", "too large"),
        ("sqrt(10**1000)", "too large"),
        ("sin(10**1000)", "too large"),
        ("1.5 * 10**1000", "too large"),
        ("round(1.5, 1000)", "at most 100 digits"),
        ("1" + " + 1" * 200, "too long"),
        ("-" * 120 + "1", "nested too deeply"),
        ("1" + "+1" * 120, "nested too deeply"),
        ("(" * 240 + "1" + ")" * 240, "invalid expression"),
    ],
)
def test_abuse_guards(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        evaluate(expression)


def test_limits_are_generous_enough() -> None:
    assert evaluate("2 ** 1000") == 2**1000
    assert evaluate("3 ** 1000") == 3**1000
    assert evaluate("10 ** 1000 + 1") == 10**1000 + 1
    assert evaluate("2 ** -1000") == 2.0**-1000
    assert evaluate("1" + " + 1" * 90) == 91
    assert evaluate("-" * 90 + "1") == 1
    assert evaluate("abs(" * 90 + "-1" + ")" * 90) == 1
    assert evaluate("(" * 150 + "1" + ")" * 150) == 1


def test_is_arithmetic() -> None:
    assert is_arithmetic("(1 + 2) * sqrt(4)")
    assert not is_arithmetic("__import__('os')")
    assert not is_arithmetic("1 +")


async def test_tool() -> None:
    tool = CalculatorTool()
    assert isinstance(tool, Tool)
    assert tool.name == "calculator"
    assert tool.parameters["required"] == ["expression"]
    assert tool.parameters["properties"]["expression"]["type"] == "string"
    assert tool.parameters["additionalProperties"] is False
    assert await tool.run({"expression": "(2 + 3) * 4"}) == {
        "expression": "(2 + 3) * 4",
        "result": 20,
    }
    assert await tool.run({"expression": "2/1"}) == {"expression": "2/1", "result": 2.0}


@pytest.mark.parametrize(
    "arguments",
    [{}, {"expression": 5}, {"expression": "1", "extra": True}, {"expression": "x" * 501}],
)
async def test_tool_refuses_bad_arguments(arguments: dict[str, Any]) -> None:
    with pytest.raises(
        ToolError, match=r"invalid arguments for tool 'calculator': (expression|extra)"
    ):
        await CalculatorTool().run(arguments)


async def test_tool_reports_evaluation_errors() -> None:
    with pytest.raises(ToolError, match="division by zero"):
        await CalculatorTool().run({"expression": "1/0"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is (2 + 3) * 4?", "(2 + 3) * 4"),
        ("6*7", "6*7"),
        ("what is 6 * 7", "6 * 7"),
        ("Please compute 12.5 / 5 for me.", "12.5 / 5"),
        ("What is 2+2.", "2+2"),
        ("calculate -3 + 10", "-3 + 10"),
        ("What's 2 ** 10?", "2 ** 10"),
        ("what is sqrt(16) + 1?", "sqrt(16) + 1"),
        ("and sqrt(2)?", "sqrt(2)"),
        ("Is 3 × 4 equal to 12?", "3 * 4"),  # noqa: RUF001
        ("(see 2+3)", "2+3"),
        ("On 2024-01-05, what is 6*7?", "6*7"),
        ("The 3rd item costs 5 + 2 dollars", "5 + 2"),
        ("first 1 + 1, then (10 - 4) * 3 - 2", "(10 - 4) * 3 - 2"),
        ("max(3, 9) - 1 is what?", "max(3, 9) - 1"),
        ("what's 15% of 80", None),
        ("hello there", None),
        ("the answer is 42", None),
        ("", None),
        ("pi is nice", None),
        ("e - pi", None),
        ("version 1.2.3", None),
        ("ratio 10:5", None),
        ("-5", None),
        ("call __import__('os') with 1+1", "1+1"),
    ],
)
def test_extract_arithmetic(text: str, expected: str | None) -> None:
    assert extract_arithmetic(text) == expected


def test_extracted_expressions_evaluate() -> None:
    expression = extract_arithmetic("What is (2 + 3) * 4?")
    assert expression is not None
    assert evaluate(expression) == 20


def test_extract_ignores_overlong_text_quickly() -> None:
    assert extract_arithmetic("word " * 10_000 + "2 + 2") == "2 + 2"
    assert extract_arithmetic("1 + " * 400 + "1") is None
