"""Callables that the python-tool tests load by import path."""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field

NOT_CALLABLE = 42


def add(
    a: Annotated[int, Field(description="The first number.")],
    b: Annotated[int, Field(description="The second number.")] = 1,
) -> int:
    """Add two integers.

    This second paragraph is not part of the description.
    """
    return a + b


async def shout(text: str, times: int = 1) -> str:
    """Upper-case `text`, repeated."""
    await asyncio.sleep(0)
    return " ".join([text.upper()] * times)


def variadic(*numbers: int) -> int:
    return sum(numbers)
