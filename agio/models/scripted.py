"""The `scripted` model (SPEC section 6) and the function-backed model for tests."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from agio.config.components import ModelComponent, ScriptedResponse
from agio.domain.messages import Message
from agio.models.base import (
    ModelEvent,
    ModelRequest,
    Retrying,
    TextDelta,
    ToolCallDelta,
    Usage,
    estimate_tokens,
)


def turn_index(messages: list[Message]) -> int:
    """How many assistant messages follow the last user message.

    The scripted model answers with that entry of its script, so a run continued from a
    checkpoint picks the script up where it stopped, and each new user message starts
    it again.
    """
    count = 0
    for message in reversed(messages):
        if message.role == "user":
            break
        if message.role == "assistant":
            count += 1
    return count


def prompt_tokens(messages: list[Message]) -> int:
    total = 0
    for m in messages:
        total += estimate_tokens(m.content) + 4
        for call in m.tool_calls:
            total += estimate_tokens(call.name) + estimate_tokens(json.dumps(call.arguments))
    return total


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class ScriptedModel:
    """Answers call *n* with `responses[n]` (the last entry repeats): content first, in
    `chunk_size` pieces `chunk_delay` seconds apart, then the tool calls. Waits are plain
    `asyncio.sleep`, so cancelling (or pausing) the run never waits for them."""

    def __init__(self, component: ModelComponent) -> None:
        assert component.responses, "validated: a scripted model has responses"
        self.name = component.name
        self.responses = component.responses
        self.chunk_size = component.chunk_size
        self.chunk_delay = component.chunk_delay

    def response_for(self, messages: list[Message]) -> ScriptedResponse:
        return self.responses[min(turn_index(messages), len(self.responses) - 1)]

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        response = self.response_for(request.messages)
        turn = turn_index(request.messages)
        completion = 0
        if response.content:
            for i, piece in enumerate(chunks(response.content, self.chunk_size)):
                if i and self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                yield TextDelta(piece)
            completion += estimate_tokens(response.content)
        for index, call in enumerate(response.tool_calls):
            arguments = json.dumps(call.arguments)
            completion += estimate_tokens(call.name) + estimate_tokens(arguments)
            yield ToolCallDelta(
                index=index,
                id=call.id or f"call_{turn}_{index}",
                name=call.name,
                arguments=arguments,
            )
        yield Usage(prompt_tokens=prompt_tokens(request.messages), completion_tokens=completion)


@dataclass
class FunctionResponse:
    """What a `FunctionModel` function returns for one call."""

    content: str | None = None
    tool_calls: list[tuple[str, dict[str, object] | str]] = field(default_factory=list)
    chunk_size: int = 0  # 0: content in one delta


ResponseFunction = Callable[
    [ModelRequest], FunctionResponse | Awaitable[FunctionResponse] | AsyncIterator[ModelEvent]
]


class FunctionModel:
    """A model backed by a Python function, for tests: the function sees every request
    (and may record it) and returns a `FunctionResponse` or yields `ModelEvent`s itself."""

    def __init__(self, fn: ResponseFunction, name: str = "function") -> None:
        self.fn = fn
        self.name = name
        self.requests: list[ModelRequest] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        result = self.fn(request)
        if inspect.isasyncgen(result):
            async for item in result:
                assert isinstance(item, TextDelta | ToolCallDelta | Usage | Retrying)
                yield item
            return
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, FunctionResponse)
        if result.content:
            size = result.chunk_size or len(result.content)
            for piece in chunks(result.content, size):
                yield TextDelta(piece)
        for index, (name, args) in enumerate(result.tool_calls):
            text = args if isinstance(args, str) else json.dumps(args)
            yield ToolCallDelta(
                index=index, id=f"fcall_{len(self.requests)}_{index}", name=name, arguments=text
            )
        yield Usage(prompt_tokens(request.messages), estimate_tokens(result.content))
