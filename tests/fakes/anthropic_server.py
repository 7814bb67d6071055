"""A fake Anthropic-compatible Messages API over real HTTP on 127.0.0.1.

The lifecycle and recording of `FakeOpenAIServer` (uvicorn in a thread, a queue of
behaviours consumed one per `POST /v1/messages`, every request recorded), with the
Messages API's own stream: `message_start`, `content_block_start` / `_delta` / `_stop`
(`text_delta`, `input_json_delta`), `message_delta` with the usage, `message_stop`,
`ping` and `error` events, and its error bodies (`{"type": "error", "error": {...}}`).

    with FakeAnthropicServer() as server:
        server.enqueue(AnthropicError(529, "overloaded_error"), AnthropicText(["Hel", "lo"]))
        ...  # point a model component's base_url at server.base_url
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.openai_server import (
    FakeOpenAIServer,
    Message,
    Receive,
    RecordedRequest,
    Scope,
    Send,
    split,
)

MESSAGES_PATH = "/v1/messages"


@dataclass(frozen=True)
class AnthropicText:
    """Stream `chunks` as text deltas of one text block."""

    chunks: list[str]
    usage: tuple[int, int] = (11, 4)


@dataclass(frozen=True)
class AnthropicToolUse:
    """One tool_use block; its input JSON streams in `pieces` input_json_delta parts."""

    id: str
    name: str
    input: dict[str, Any]
    pieces: int = 3


@dataclass(frozen=True)
class AnthropicTools:
    """Optional text first, then tool_use blocks."""

    calls: list[AnthropicToolUse]
    text: str | None = None
    usage: tuple[int, int] = (25, 10)


@dataclass(frozen=True)
class AnthropicError:
    """An HTTP error with Anthropic's error body."""

    status: int
    type: str = "api_error"
    message: str = "fake error"
    retry_after: str | None = None


@dataclass(frozen=True)
class AnthropicEvents:
    """Raw SSE events, each `(event name, data object)` or a raw text; `stop` appends
    nothing by itself (the test writes every event)."""

    events: list[tuple[str, dict[str, Any]] | str] = field(default_factory=list)


AnthropicBehaviour = AnthropicText | AnthropicTools | AnthropicError | AnthropicEvents


def _start(usage: tuple[int, int]) -> tuple[str, dict[str, Any]]:
    return (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-fake",
                "stop_reason": None,
                "usage": {"input_tokens": usage[0], "output_tokens": 1},
            },
        },
    )


def _end(stop_reason: str, usage: tuple[int, int]) -> list[tuple[str, dict[str, Any]] | str]:
    return [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": usage[1]},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def _text_block(index: int, chunks: list[str]) -> list[tuple[str, dict[str, Any]] | str]:
    events: list[tuple[str, dict[str, Any]] | str] = [
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            },
        )
    ]
    events += [
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": piece},
            },
        )
        for piece in chunks
    ]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def events_of(behaviour: AnthropicBehaviour) -> list[tuple[str, dict[str, Any]] | str]:
    if isinstance(behaviour, AnthropicEvents):
        return behaviour.events
    if isinstance(behaviour, AnthropicText):
        return [
            _start(behaviour.usage),
            ("ping", {"type": "ping"}),
            *_text_block(0, behaviour.chunks),
            *_end("end_turn", behaviour.usage),
        ]
    assert isinstance(behaviour, AnthropicTools)
    events = [_start(behaviour.usage)]
    index = 0
    if behaviour.text:
        events += _text_block(0, [behaviour.text])
        index = 1
    for call in behaviour.calls:
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": {},
                    },
                },
            )
        )
        for part in split(json.dumps(call.input), call.pieces):
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": part},
                    },
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    return [*events, *_end("tool_use", behaviour.usage)]


class FakeAnthropicServer(FakeOpenAIServer):
    """The fake; `base_url` is the host (the provider appends `/v1/messages`)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == MESSAGES_PATH]

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        record = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=json.loads(raw) if raw else None,
        )
        with self._lock:
            self.requests.append(record)
        hangup: asyncio.Future[Message] = asyncio.ensure_future(receive())
        try:
            if scope["method"] != "POST" or scope["path"] != MESSAGES_PATH:
                await self._json(send, 404, _error("not_found_error", "Unknown path"))
                return
            with self._lock:
                behaviour = self._queue.popleft() if self._queue else None
            if behaviour is None:
                await self._json(send, 418, _error("invalid_request_error", "nothing scripted"))
            elif isinstance(behaviour, AnthropicError):
                headers = []
                if behaviour.retry_after is not None:
                    headers.append((b"retry-after", behaviour.retry_after.encode()))
                body = _error(behaviour.type, behaviour.message)
                await self._json(send, behaviour.status, body, headers)
            else:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
                    }
                )
                for event in events_of(behaviour):
                    if isinstance(event, str):
                        text = event
                    else:
                        text = f"event: {event[0]}\ndata: {json.dumps(event[1])}\n\n"
                    body_part = {"type": "http.response.body", "body": text.encode()}
                    await send({**body_part, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            record.finished = True
        finally:
            hangup.cancel()


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}
