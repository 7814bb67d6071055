"""The `openai` provider: any OpenAI-compatible Chat Completions endpoint, streamed.

Uses the official `openai` SDK with its own retries off: this module retries transient
failures itself, and only before the first delta was yielded, so that no part of an
answer is ever delivered twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
    ChatCompletionUserMessageParam,
)

from agio.config.components import ModelComponent
from agio.domain.messages import Message, ToolCall, ToolSpec
from agio.models.base import (
    ModelError,
    ModelEvent,
    ModelRequest,
    Retrying,
    TextDelta,
    ToolCallDelta,
    Usage,
)

PLACEHOLDER_API_KEY = "not-needed"
"""Sent when the component has no key: local servers (Ollama, vLLM) want none."""

_MAX_SERVER_MESSAGE = 500
# what the SDK lets through for a `data:` line that is not JSON (or not UTF-8), and for a
# chunk that fails schema validation
_MALFORMED = (json.JSONDecodeError, UnicodeDecodeError, openai.APIResponseValidationError)
_T = TypeVar("_T")


@dataclass
class _StreamState:
    """What one attempt has seen so far: chunks, tool-call ids/names already passed on."""

    chunks: int = 0
    usage: Usage | None = None
    call_ids: dict[int, str] = field(default_factory=dict)
    call_names: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Failure:
    """Why an attempt failed, and whether (and when) it may be tried again."""

    message: str
    type: str = "ModelError"
    retryable: bool = False
    retry_after: float | None = None

    def error(self, attempts: int) -> ModelError:
        message = self.message
        if self.retryable and attempts > 1:
            message += f" (gave up after {attempts} attempts)"
        return ModelError(message, type=self.type, retryable=self.retryable)


class OpenAIModel:
    """A `Model` backed by an OpenAI-compatible `/chat/completions` endpoint.

    `client` replaces the SDK client built from the component (tests, shared pools).
    `base_delay` is the first retry's backoff (doubled each retry, with jitter) and
    `max_delay` caps every wait, a server's `Retry-After` included.
    """

    def __init__(
        self,
        component: ModelComponent,
        *,
        client: openai.AsyncOpenAI | None = None,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        self.name = component.name
        self.model = component.model
        self._component = component
        self._api_key = component.api_key.get_secret_value() if component.api_key else None
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._owns_client = client is None
        self._client = client or openai.AsyncOpenAI(
            api_key=self._api_key or PLACEHOLDER_API_KEY,
            base_url=component.base_url,
            timeout=component.timeout,
            max_retries=0,
        )

    async def aclose(self) -> None:
        """Release the HTTP connections, unless the client was passed in by the caller."""
        if self._owns_client:
            await self._client.close()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Yield text and tool-call deltas as they arrive, then `Usage` when reported.

        Transient failures (429, 5xx, connection errors, timeouts) are retried with
        backoff, each announced by a `Retrying` event, until the first delta is out;
        everything else, and anything after the first delta, raises `ModelError`.
        """
        attempt = 0
        while True:
            state = _StreamState()
            delivered = False
            try:
                # The SDK's lower-level `post` with a body we build ourselves: the same client,
                # authentication, error types and SSE decoding as `chat.completions.create`,
                # without its per-call parameter transformation and per-chunk model
                # construction, which cost more CPU than the rest of a run together.
                stream = await self._client.post(
                    "/chat/completions",
                    body=self._body(request),
                    cast_to=object,
                    stream=True,
                    stream_cls=openai.AsyncStream[object],
                )
                async with stream:
                    async for chunk in stream:
                        if not isinstance(chunk, dict):
                            raise ModelError(
                                f"{self._label()}: a stream chunk is not a JSON object",
                                type="ModelMalformedResponse",
                            )
                        for event in self._events(chunk, state):
                            delivered = True
                            yield event
            except _MALFORMED as exc:
                raise self._malformed(exc).error(1) from exc
            except openai.OpenAIError as exc:
                failure = self._classify(exc, delivered=delivered)
                attempt += 1
                if not failure.retryable or attempt > self._component.max_retries:
                    raise failure.error(attempt) from exc
            else:
                if state.chunks == 0:
                    raise ModelError(
                        f"{self._label()}: the server sent no completion chunks",
                        type="ModelMalformedResponse",
                    )
                if state.usage is not None:
                    yield state.usage
                return
            delay = self._delay(attempt, failure.retry_after)
            yield Retrying(attempt=attempt, delay=delay, reason=failure.message)
            await asyncio.sleep(delay)

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        """The Chat Completions request body."""
        body: dict[str, Any] = {
            "model": self._component.model,
            "messages": [to_wire_message(message) for message in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = [to_wire_tool(tool) for tool in request.tools]
        temperature = _first(request.temperature, self._component.temperature)
        if not isinstance(temperature, openai.Omit):
            body["temperature"] = temperature
        max_tokens = _first(request.max_tokens, self._component.max_tokens)
        if not isinstance(max_tokens, openai.Omit):
            body["max_tokens"] = max_tokens
        return body

    # ------------------------------------------------------------------ streaming

    def _events(self, chunk: dict[str, Any], state: _StreamState) -> list[ModelEvent]:
        """The deltas in one chunk (a decoded JSON object); structural surprises become
        `ModelMalformedResponse`."""
        state.chunks += 1
        try:
            usage = chunk.get("usage")
            if usage is not None:
                state.usage = Usage(
                    prompt_tokens=usage.get("prompt_tokens") or 0,
                    completion_tokens=usage.get("completion_tokens") or 0,
                )
            events: list[ModelEvent] = []
            for choice in chunk.get("choices") or []:
                if choice.get("index") not in (0, None):
                    continue
                delta = choice.get("delta") or {}
                content = delta.get("content")
                if content:
                    if not isinstance(content, str):
                        raise TypeError("delta.content is not a string")
                    events.append(TextDelta(content))
                for position, call in enumerate(delta.get("tool_calls") or []):
                    event = self._tool_delta(call, position, state)
                    if event is not None:
                        events.append(event)
        except (AttributeError, TypeError) as exc:
            raise ModelError(
                f"{self._label()}: malformed stream chunk ({exc})", type="ModelMalformedResponse"
            ) from exc
        return events

    @staticmethod
    def _tool_delta(
        call: dict[str, Any], position: int, state: _StreamState
    ) -> ToolCallDelta | None:
        """One tool-call fragment; an id or name is passed on only the first time it is seen."""
        index = call.get("index")
        index = index if isinstance(index, int) else position
        function = call.get("function") or {}
        call_id = call.get("id") or None
        name = function.get("name")
        arguments = function.get("arguments") or ""
        if not isinstance(arguments, str):
            raise TypeError("function.arguments is not a string")
        if call_id is not None and state.call_ids.get(index) == call_id:
            call_id = None
        if name and state.call_names.get(index) == name:
            name = None
        if call_id is None and not name and not arguments:
            return None
        if call_id is not None:
            state.call_ids[index] = call_id
        if name:
            state.call_names[index] = name
        return ToolCallDelta(index=index, id=call_id, name=name or None, arguments=arguments)

    # ------------------------------------------------------------------ errors

    def _classify(self, exc: openai.OpenAIError, *, delivered: bool) -> _Failure:
        """Why an SDK call failed, without the API key in the message."""
        label = self._label()
        if delivered:
            failure = _Failure(
                f"{label}: the stream broke off after it started: {_describe(exc)}",
                type="ModelStreamError",
            )
        elif isinstance(exc, openai.APIStatusError):
            failure = self._status_failure(exc, label)
        elif isinstance(exc, openai.APITimeoutError):
            failure = _Failure(
                f"{label}: no response within {self._component.timeout:g} s",
                type="ModelTimeout",
                retryable=True,
            )
        elif isinstance(exc, openai.APIConnectionError):
            failure = _Failure(
                f"{label}: cannot reach the server: {_describe(exc)}",
                type="ModelUnavailable",
                retryable=True,
            )
        elif isinstance(exc, openai.APIError):
            failure = _Failure(
                f"{label}: the server reported an error in the stream: {_describe(exc)}",
                type="ModelStreamError",
            )
        else:
            failure = _Failure(f"{label}: {_describe(exc)}")
        return dataclasses.replace(failure, message=self._redact(failure.message))

    def _malformed(self, exc: Exception) -> _Failure:
        detail = "invalid JSON" if isinstance(exc, json.JSONDecodeError) else _describe(exc)
        return _Failure(
            self._redact(f"{self._label()}: malformed response from the server ({detail})"),
            type="ModelMalformedResponse",
        )

    def _status_failure(self, exc: openai.APIStatusError, label: str) -> _Failure:
        status = exc.status_code
        message = f"{label}: HTTP {status}: {_server_message(exc)}"
        if status == 429:
            kind, retryable = "ModelRateLimited", True
        elif status == 408:
            kind, retryable = "ModelTimeout", True
        elif status >= 500:
            kind, retryable = "ModelUnavailable", True
        elif status in (401, 403):
            kind, retryable = "ModelAuthError", False
        elif 400 <= status < 500:
            kind, retryable = "ModelBadRequest", False
        else:
            kind, retryable = "ModelError", False
        retry_after = _retry_after(exc.response.headers) if retryable else None
        return _Failure(message, type=kind, retryable=retryable, retry_after=retry_after)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry `attempt`: the server's wish, else backoff with jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self._max_delay)
        ceiling = min(self._base_delay * 2.0 ** (attempt - 1), self._max_delay)
        # "equal jitter": at least half the backoff, so that retries never bunch up at zero
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (not cryptographic)

    def _redact(self, text: str) -> str:
        if self._api_key and len(self._api_key) >= 4:
            text = text.replace(self._api_key, "***")
        return text

    def _label(self) -> str:
        return f"model {self._component.model!r}"


# ---------------------------------------------------------------------- wire format


def to_wire_message(message: Message) -> ChatCompletionMessageParam:
    """One of our messages as the Chat Completions API wants it."""
    content = message.content or ""
    if message.role == "system":
        return ChatCompletionSystemMessageParam(role="system", content=content)
    if message.role == "user":
        return ChatCompletionUserMessageParam(role="user", content=content)
    if message.role == "tool":
        return ChatCompletionToolMessageParam(
            role="tool", tool_call_id=message.tool_call_id or "", content=content
        )
    wire = ChatCompletionAssistantMessageParam(role="assistant", content=message.content)
    if message.tool_calls:
        wire["tool_calls"] = [to_wire_tool_call(call) for call in message.tool_calls]
    elif message.content is None:
        wire["content"] = ""
    return wire


def to_wire_tool_call(call: ToolCall) -> ChatCompletionMessageFunctionToolCallParam:
    """A past tool call; arguments the model got wrong are sent back as it wrote them."""
    arguments = call.raw_arguments if call.raw_arguments is not None else json.dumps(call.arguments)
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def to_wire_tool(tool: ToolSpec) -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


# ---------------------------------------------------------------------- helpers


def _first(*values: _T | None) -> _T | openai.Omit:
    for value in values:
        if value is not None:
            return value
    return openai.omit


def _server_message(exc: openai.APIError) -> str:
    """The server's own explanation: `error.message` of an OpenAI-style body, or its text."""
    body = exc.body
    text: str | None = None
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str) and body[key]:
                text = body[key]
                break
    elif isinstance(body, str) and body.strip():
        text = body.strip()
    if text is None:
        text = exc.message or type(exc).__name__
    if len(text) > _MAX_SERVER_MESSAGE:
        text = text[:_MAX_SERVER_MESSAGE] + "…"
    return text


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_server_message(exc)}"
    if isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIConnectionError):
        return _server_message(exc)
    text = str(exc) or type(exc).__name__
    if cause is not None and str(cause):
        text = f"{text} ({type(cause).__name__}: {cause})"
    return text


def _retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
