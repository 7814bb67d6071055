"""The Chat Completions wire format, without the SDK: the request body, the SSE stream of
`chat.completion.chunk` objects turned into our deltas, and an error response's message.

Everything here is plain data in and out (bytes, dicts from `orjson.loads`), no HTTP:
`openai_provider.py` does the requests, retries and error mapping.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from agio.config.components import ModelComponent
from agio.domain.messages import Message, ToolCall, ToolSpec
from agio.models.base import ModelEvent, ModelRequest, TextDelta, ToolCallDelta, Usage

MAX_SERVER_MESSAGE = 500
"""A server's explanation is cut to this many characters in our error messages."""


class MalformedStream(Exception):
    """A `data:` payload is not what Chat Completions streams (not JSON, wrong shapes)."""


class StreamErrorObject(Exception):
    """The server sent `{"error": ...}` inside the stream instead of a chunk. `type` and
    `retryable` are how the run's error reads if nothing was streamed yet (an Anthropic
    `overloaded_error` may be tried again, an OpenAI stream error is final)."""

    def __init__(
        self, error: Any, *, type: str = "ModelStreamError", retryable: bool = False
    ) -> None:
        message = server_message(error, fallback="an error occurred during streaming")
        super().__init__(message)
        self.message = message
        self.type = type
        self.retryable = retryable


# ---------------------------------------------------------------------- the request


def request_body(component: ModelComponent, request: ModelRequest) -> bytes:
    """The streamed Chat Completions request, as the JSON bytes to send (built once per
    model call, reused by its retries). Raises `TypeError` for a value JSON cannot hold."""
    body: dict[str, Any] = {
        "model": component.model,
        "messages": [to_wire_message(message) for message in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [to_wire_tool(tool) for tool in request.tools]
    temperature = _first(request.temperature, component.temperature)
    if temperature is not None:
        body["temperature"] = temperature
    max_tokens = _first(request.max_tokens, component.max_tokens)
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


def to_wire_message(message: Message) -> dict[str, Any]:
    """One of our messages as the Chat Completions API wants it."""
    content = message.content or ""
    if message.role == "system":
        return {"role": "system", "content": content}
    if message.role == "user":
        return {"role": "user", "content": content}
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": content}
    wire: dict[str, Any] = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [to_wire_tool_call(call) for call in message.tool_calls]
    elif message.content is None:
        wire["content"] = ""
    return wire


def to_wire_tool_call(call: ToolCall) -> dict[str, Any]:
    """A past tool call; arguments the model got wrong are sent back as it wrote them."""
    arguments = call.raw_arguments if call.raw_arguments is not None else json.dumps(call.arguments)
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def to_wire_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


# ---------------------------------------------------------------------- the stream


class SSEDecoder:
    """Server-sent events from the response's bytes, as each event's `data` (its `data:`
    lines joined by newlines). Comments (`:`), other fields (`event:`, `id:`, `retry:`)
    and events without data are skipped; after `[DONE]` nothing more is returned (the
    caller still reads the body to its end, so that the connection can be reused).
    Lines end in `\\n` or `\\r\\n`."""

    def __init__(self) -> None:
        self.done = False
        self._pending = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        """The payloads of the events that `chunk` completes."""
        if self._pending:
            chunk = self._pending + chunk
        end = chunk.rfind(b"\n")
        if end < 0:
            self._pending = chunk
            return []
        self._pending = chunk[end + 1 :]
        if self.done:
            return []
        return self._lines(chunk[:end].split(b"\n"))

    def close(self) -> list[bytes]:
        """The last event, if the body ended without the blank line after it."""
        pending, self._pending = self._pending, b""
        if self.done:
            return []
        return self._lines([pending, b""] if pending else [b""])

    def _lines(self, lines: list[bytes]) -> list[bytes]:
        payloads: list[bytes] = []
        data = self._data
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if not data:
                    continue
                payload = data[0] if len(data) == 1 else b"\n".join(data)
                data.clear()
                if payload.startswith(b"[DONE]"):
                    self.done = True
                    break
                payloads.append(payload)
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
        return payloads


@dataclass
class StreamState:
    """What one attempt has seen so far: chunks, usage, tool-call ids/names passed on."""

    chunks: int = 0
    usage: Usage | None = None
    call_ids: dict[int, str] = field(default_factory=dict)
    call_names: dict[int, str] = field(default_factory=dict)


def chunk_events(payload: bytes, state: StreamState) -> list[ModelEvent]:
    """The deltas in one `data:` payload. Raises `StreamErrorObject` for an error the
    server sent in the stream, `MalformedStream` for anything that is not a chunk."""
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedStream("invalid JSON") from exc
    if not isinstance(chunk, dict):
        raise MalformedStream("a stream chunk is not a JSON object")
    error = chunk.get("error")
    if error:
        raise StreamErrorObject(error)
    state.chunks += 1
    try:
        return _deltas(chunk, state)
    except (AttributeError, TypeError) as exc:
        raise MalformedStream(f"malformed stream chunk: {exc}") from exc


def _deltas(chunk: dict[str, Any], state: StreamState) -> list[ModelEvent]:
    usage = chunk.get("usage")
    if usage is not None:
        state.usage = Usage(
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
        )
    events: list[ModelEvent] = []
    for choice in chunk.get("choices") or ():
        if choice.get("index") not in (0, None):
            continue
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if content:
            if not isinstance(content, str):
                raise TypeError("delta.content is not a string")
            events.append(TextDelta(content))
        for position, call in enumerate(delta.get("tool_calls") or ()):
            event = _tool_delta(call, position, state)
            if event is not None:
                events.append(event)
    return events


def _tool_delta(call: dict[str, Any], position: int, state: StreamState) -> ToolCallDelta | None:
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


# ---------------------------------------------------------------------- error responses


def error_body_message(content: bytes, fallback: str) -> str:
    """The server's own explanation in an error response: `error.message` of an
    OpenAI-style JSON body (or its `detail` / `error` text), else the body's text."""
    try:
        body: Any = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = content.decode("utf-8", "replace")
    if isinstance(body, dict):
        body = body.get("error", body)
    return server_message(body, fallback=fallback)


def server_message(body: Any, *, fallback: str) -> str:
    """`message`, `detail` or `error` of a JSON object, or a text, cut to a bounded size."""
    text: str | None = None
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                text = value
                break
    elif isinstance(body, str) and body.strip():
        text = body.strip()
    if text is None:
        text = fallback
    if len(text) > MAX_SERVER_MESSAGE:
        text = text[:MAX_SERVER_MESSAGE] + "…"
    return text


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        with contextlib.suppress(ValueError):
            return float(value) / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return float(value)  # seconds; else an HTTP date
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
