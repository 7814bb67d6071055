"""The `Model` protocol: one streaming request in, text/tool-call deltas and usage out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agio.domain.messages import Message, ToolSpec


@dataclass(frozen=True)
class ModelRequest:
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class TextDelta:
    """A fragment of the answer's text, as the model produces it."""

    content: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of tool call number `index` of this response.

    The first fragment of a call carries `id` and `name`; `arguments` fragments are
    concatenated in order to form the JSON arguments text. Several calls may be in
    flight at once (parallel tool calls), told apart by `index`.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Retrying:
    """The provider is about to retry a failed attempt (nothing was streamed yet)."""

    attempt: int
    delay: float
    reason: str


ModelEvent = TextDelta | ToolCallDelta | Usage | Retrying


class ModelError(Exception):
    """A model call failed for good. `type` is a stable name for the run's error."""

    def __init__(self, message: str, *, type: str = "ModelError", retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.type = type
        self.retryable = retryable


@runtime_checkable
class Model(Protocol):
    """A streaming chat model."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Yield the response as it is produced; raise `ModelError` on failure."""
        ...


def estimate_tokens(text: str | None) -> int:
    """A rough token count (about four characters a token) for models that report none."""
    return 0 if not text else max(1, (len(text) + 3) // 4)
