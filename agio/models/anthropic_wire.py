"""The Anthropic Messages API wire format, without the SDK: the request body (system
prompt at the top level, tool calls as `tool_use` blocks, tool results as `tool_result`
blocks of a user message) and the streamed events turned into our deltas.

Plain data in and out (bytes, dicts from `orjson.loads`), no HTTP: `anthropic_provider.py`
sends the requests, `http_stream.py` retries them and maps their errors.
"""

from __future__ import annotations

from typing import Any

import orjson

from agio.config.components import ModelComponent
from agio.domain.messages import Message, ToolSpec
from agio.models.base import ModelError, ModelEvent, ModelRequest, TextDelta, ToolCallDelta, Usage
from agio.models.openai_wire import MalformedStream, StreamErrorObject

DEFAULT_MAX_TOKENS = 4096
"""The Messages API requires `max_tokens`; this when neither agent nor model sets one."""

#: `error.type` values of an `error` event that another attempt may get past
_RETRYABLE_ERRORS = {
    "overloaded_error": "ModelUnavailable",
    "api_error": "ModelUnavailable",
    "rate_limit_error": "ModelRateLimited",
}

# ---------------------------------------------------------------------- the request


def request_body(component: ModelComponent, request: ModelRequest) -> bytes:
    """The streamed Messages request, as the JSON bytes to send. Raises `TypeError` for a
    value JSON cannot hold."""
    system, messages = to_wire_messages(request.messages)
    max_tokens = request.max_tokens or component.max_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {
        "model": component.model,
        "max_tokens": max_tokens,
        "messages": messages,
        "stream": True,
    }
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [to_wire_tool(tool) for tool in request.tools]
    temperature = request.temperature if request.temperature is not None else component.temperature
    if temperature is not None:
        body["temperature"] = min(temperature, 1.0)  # Anthropic's range is 0..1
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


def to_wire_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """Our messages as the top-level system prompt (every system message, in order) and
    the alternating user/assistant turns: consecutive messages of one side are merged
    into one turn of content blocks (all results of a round of tool calls go back in the
    one user message after the calls, as the API asks)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            if message.content:
                system.append(message.content)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(system), turns


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content or "",
            }
        ]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        # arguments that were not a JSON object go back empty; the tool's result says why
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        )
    return blocks


def to_wire_tool(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}


# ---------------------------------------------------------------------- the stream


class MessageStreamParser:
    """The events of one streamed answer (`message_start`, `content_block_start`,
    `content_block_delta` with `text_delta` or `input_json_delta`, `content_block_stop`,
    `message_delta` with the usage so far, `message_stop`, `ping`, `error`) as deltas.

    Each SSE event's `data` names its own `type`, so the `event:` lines are not needed.
    Tool-use blocks are numbered 0, 1, … in the order they start (the API's block index
    counts the text blocks too); thinking blocks are skipped.
    """

    def __init__(self, label: str) -> None:
        self._label = label
        self._started = False
        self._stopped = False
        self._input_tokens = 0
        self._output_tokens = 0
        self._tool_index: dict[int, int] = {}  # the API's block index -> our call index

    def feed(self, payload: bytes) -> list[ModelEvent]:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise MalformedStream("invalid JSON") from exc
        if not isinstance(event, dict):
            raise MalformedStream("a stream event is not a JSON object")
        try:
            return self._event(event)
        except (AttributeError, TypeError, KeyError) as exc:
            raise MalformedStream(f"malformed stream event: {exc}") from exc

    def _event(self, event: dict[str, Any]) -> list[ModelEvent]:
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_start":
            block = event["content_block"]
            if block.get("type") != "tool_use":
                text = block.get("text") if block.get("type") == "text" else None
                return [TextDelta(text)] if isinstance(text, str) and text else []
            index = self._tool_index.setdefault(int(event["index"]), len(self._tool_index))
            call_id, name = block.get("id"), block.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise TypeError("a tool_use block without a string id and name")
            initial = block.get("input")
            # the input streams as input_json_delta; a block that brings it whole has it here
            arguments = orjson.dumps(initial).decode() if initial else ""
            return [ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments)]
        if kind == "message_start":
            self._started = True
            self._usage(event["message"].get("usage"))
        elif kind == "message_delta":
            self._usage(event.get("usage"))
        elif kind == "message_stop":
            self._stopped = True
        elif kind == "error":
            error = event.get("error") or {}
            error_type = error.get("type") if isinstance(error, dict) else None
            run_type = _RETRYABLE_ERRORS.get(str(error_type))
            raise StreamErrorObject(
                error,
                type=run_type or "ModelStreamError",
                retryable=run_type is not None,
            )
        return []  # ping, content_block_stop, and whatever a later API version adds

    def _delta(self, event: dict[str, Any]) -> list[ModelEvent]:
        delta = event["delta"]
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta["text"]
            if not isinstance(text, str):
                raise TypeError("text_delta.text is not a string")
            return [TextDelta(text)] if text else []
        if kind == "input_json_delta":
            index = self._tool_index.get(int(event["index"]))
            if index is None:
                raise TypeError("input_json_delta for a block that is not a tool_use")
            part = delta["partial_json"]
            if not isinstance(part, str):
                raise TypeError("input_json_delta.partial_json is not a string")
            return [ToolCallDelta(index=index, arguments=part)] if part else []
        return []  # thinking_delta, signature_delta, citations: not part of the answer

    def _usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        # message_delta's counts are cumulative; the prompt includes what the cache served
        prompt = sum(
            value
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            if isinstance(value := usage.get(key), int)
        )
        if prompt:
            self._input_tokens = prompt
        output = usage.get("output_tokens")
        if isinstance(output, int):
            self._output_tokens = output

    def finish(self) -> list[ModelEvent]:
        if not self._started:
            raise ModelError(
                f"{self._label}: the server sent no message_start event",
                type="ModelMalformedResponse",
            )
        if not self._stopped:
            raise ModelError(
                f"{self._label}: the stream ended before message_stop",
                type="ModelStreamError",
            )
        return [Usage(self._input_tokens, self._output_tokens)]
