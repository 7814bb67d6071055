"""A fake OpenAI-compatible HTTP server, so provider tests run over real HTTP on 127.0.0.1.

A small ASGI app served by uvicorn in a background thread. Each test scripts it with a
queue of behaviours, consumed one per `POST /v1/chat/completions`: stream text or tool
calls, answer with an HTTP error, hang, send a malformed `data:` line or drop the
connection mid-stream. Every request is recorded (body, headers, and whether the server
finished its answer or saw the client go away) so tests can assert what was sent.

    with FakeOpenAIServer() as server:
        server.enqueue(ErrorResponse(429, retry_after="0"), StreamText(["Hel", "lo"]))
        ...  # point a client at server.base_url
        assert len(server.completions) == 2
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

COMPLETIONS_PATH = "/v1/chat/completions"
MODELS = ("fake-model", "fake-model-large")


# --------------------------------------------------------------------- recording


@dataclass
class RecordedRequest:
    """One request as the server saw it, and how its answer went."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    finished: bool = False
    """The server sent its whole answer."""
    disconnected: bool = False
    """The client closed the connection before the answer was complete."""

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


# --------------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Stream:
    """A raw SSE answer. `frames` are chunk objects (sent as `data: <json>`) or raw text
    sent as is. `delay` is the pause before every frame after the first. `drop` closes the
    connection after the frames, without finishing the HTTP response; `done` ends a
    complete stream with `data: [DONE]`."""

    frames: list[dict[str, Any] | str]
    delay: float = 0.0
    drop: bool = False
    done: bool = True


@dataclass(frozen=True)
class StreamText:
    """Stream `chunks` as content deltas, then a usage chunk if the client asked for it."""

    chunks: list[str]
    delay: float = 0.0
    usage: tuple[int, int] | None = (12, 5)
    finish_reason: str = "stop"


@dataclass(frozen=True)
class FakeToolCall:
    id: str
    name: str
    arguments: str
    """The JSON text of the arguments, split across chunks when streamed."""


@dataclass(frozen=True)
class StreamToolCalls:
    """Stream optional `content`, then tool calls whose arguments come in `pieces`
    fragments each; with `interleave`, fragments of different calls alternate."""

    calls: list[FakeToolCall]
    content: str | None = None
    pieces: int = 3
    interleave: bool = True
    delay: float = 0.0
    usage: tuple[int, int] | None = (20, 9)


@dataclass(frozen=True)
class ErrorResponse:
    """An OpenAI-style error: `{"error": {"message", "type", "code"}}` with `status`."""

    status: int
    message: str = "fake error"
    type: str = "server_error"
    code: str | None = None
    retry_after: str | None = None
    raw_body: str | None = None
    """Sent instead of the JSON error when set (e.g. an HTML error page)."""


@dataclass(frozen=True)
class Hang:
    """Say nothing for `seconds` (or until the client hangs up), then answer with `then`."""

    seconds: float
    then: Behaviour | None = None


@dataclass(frozen=True)
class MalformedChunk:
    """Stream `before` as text deltas, then a `data:` line that is not JSON."""

    before: list[str] = field(default_factory=list)
    line: str = 'data: {"id": "chatcmpl-fake", "choices": [ \n\n'


@dataclass(frozen=True)
class DropConnection:
    """Stream `before` as text deltas, then close the connection mid-response."""

    before: list[str] = field(default_factory=list)
    delay: float = 0.0


Behaviour = (
    Stream | StreamText | StreamToolCalls | ErrorResponse | Hang | MalformedChunk | DropConnection
)


def chunk(
    model: str,
    *,
    content: str | None = None,
    role: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """One `chat.completion.chunk` with a single choice."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def usage_chunk(model: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def split(text: str, pieces: int) -> list[str]:
    """`text` cut into `pieces` consecutive parts (the last ones may be empty)."""
    size = max(1, -(-len(text) // max(pieces, 1)))
    return [text[i * size : (i + 1) * size] for i in range(max(pieces, 1))]


def _text_frames(model: str, chunks: list[str]) -> list[dict[str, Any] | str]:
    frames: list[dict[str, Any] | str] = [chunk(model, role="assistant", content="")]
    frames += [chunk(model, content=piece) for piece in chunks]
    return frames


def _tool_frames(behaviour: StreamToolCalls, model: str) -> list[dict[str, Any] | str]:
    frames: list[dict[str, Any] | str] = [chunk(model, role="assistant", content=None)]
    if behaviour.content:
        frames.append(chunk(model, content=behaviour.content))
    fragments: list[list[dict[str, Any]]] = []
    for index, call in enumerate(behaviour.calls):
        head = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        rest = [
            {"index": index, "function": {"arguments": part}}
            for part in split(call.arguments, behaviour.pieces)
        ]
        fragments.append([head, *rest])
    if behaviour.interleave:
        longest = max((len(f) for f in fragments), default=0)
        ordered = [f[i] for i in range(longest) for f in fragments if i < len(f)]
    else:
        ordered = [fragment for call_fragments in fragments for fragment in call_fragments]
    frames += [chunk(model, tool_calls=[fragment]) for fragment in ordered]
    frames.append(chunk(model, finish_reason="tool_calls"))
    return frames


def _completion(model: str, message: dict[str, Any], finish: str, usage: Any) -> dict[str, Any]:
    """A non-streamed `chat.completion` answer."""
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage_chunk(model, *usage)["usage"]
    return body


# --------------------------------------------------------------------- the server


class FakeOpenAIServer:
    """The fake server. Start it with `start()` or `with`; `base_url` ends in `/v1`.

    Behaviours are consumed in order, one per chat-completions request; when the queue
    is empty the server answers 418 with a message saying so, so that a test that makes
    more requests than it scripted fails loudly instead of hanging.
    """

    def __init__(self) -> None:
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._stopping = threading.Event()
        self.port = 0

    # ------------------------------------------------------------------ scripting

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Add behaviours to the end of the queue."""
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def pending(self) -> int:
        """Behaviours not used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def completions(self) -> list[RecordedRequest]:
        """The chat-completions requests received so far, in order."""
        with self._lock:
            return [r for r in self.requests if r.path == COMPLETIONS_PATH]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeOpenAIServer:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            http="h11",
            lifespan="off",
            log_config=None,
            log_level=None,
            interface="asgi3",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving; open answers are abandoned rather than awaited."""
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ ASGI app

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
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
        )
        with self._lock:
            self.requests.append(record)
        # the only message left is `http.disconnect`: watch for it while answering
        hangup = asyncio.ensure_future(receive())
        try:
            if scope["method"] == "GET" and scope["path"] == "/v1/models":
                await self._json(send, 200, _models())
            elif scope["method"] == "POST" and scope["path"] == COMPLETIONS_PATH:
                with self._lock:
                    behaviour = self._queue.popleft() if self._queue else None
                record.finished = await self._answer(behaviour, record, send, hangup)
            else:
                await self._json(send, 404, _error("Unknown path", "invalid_request_error"))
                record.finished = True
        finally:
            hangup.cancel()

    async def _answer(
        self,
        behaviour: Behaviour | None,
        record: RecordedRequest,
        send: Send,
        hangup: asyncio.Future[Message],
    ) -> bool:
        """Answer with `behaviour`; True if the whole answer was sent."""
        body = record.body if isinstance(record.body, dict) else {}
        model = str(body.get("model", "fake-model"))
        streamed = bool(body.get("stream"))
        options = body.get("stream_options") or {}
        want_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False

        if behaviour is None:
            message = "fake server: no behaviour scripted for this request"
            await self._json(send, 418, _error(message, "invalid_request_error"))
        elif isinstance(behaviour, ErrorResponse):
            await self._error_response(behaviour, send)
        elif isinstance(behaviour, Hang):
            if await self._sleep(behaviour.seconds, hangup):
                record.disconnected = True
                return False
            return await self._answer(behaviour.then or StreamText(["late"]), record, send, hangup)
        elif not streamed and isinstance(behaviour, StreamText | StreamToolCalls):
            await self._json(send, 200, _non_streamed(behaviour, model))
        else:
            return await self._stream(
                _as_stream(behaviour, model, want_usage), record, send, hangup
            )
        return True

    async def _stream(
        self, stream: Stream, record: RecordedRequest, send: Send, hangup: asyncio.Future[Message]
    ) -> bool:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        for number, frame in enumerate(stream.frames):
            if number and stream.delay and await self._sleep(stream.delay, hangup):
                record.disconnected = True
                return False
            if hangup.done():
                record.disconnected = True
                return False
            text = frame if isinstance(frame, str) else f"data: {json.dumps(frame)}\n\n"
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})
        if stream.drop:
            # returning without the final body message makes uvicorn close the connection
            return False
        tail = b"data: [DONE]\n\n" if stream.done else b""
        await send({"type": "http.response.body", "body": tail, "more_body": False})
        return True

    async def _sleep(self, seconds: float, hangup: asyncio.Future[Message]) -> bool:
        """Wait `seconds`; True if the client hung up (or the server is stopping) first."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping.is_set():
                return True
            done, _ = await asyncio.wait({hangup}, timeout=min(left, 0.05))
            if done:
                return True
        return hangup.done()

    async def _error_response(self, behaviour: ErrorResponse, send: Send) -> None:
        headers = []
        if behaviour.retry_after is not None:
            headers.append((b"retry-after", behaviour.retry_after.encode()))
        if behaviour.raw_body is not None:
            await self._send(
                send, behaviour.status, behaviour.raw_body.encode(), "text/html", headers
            )
            return
        payload = _error(behaviour.message, behaviour.type, behaviour.code)
        await self._json(send, behaviour.status, payload, headers)

    async def _json(
        self,
        send: Send,
        status: int,
        payload: Any,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        await self._send(send, status, json.dumps(payload).encode(), "application/json", headers)

    @staticmethod
    async def _send(
        send: Send,
        status: int,
        body: bytes,
        content_type: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        all_headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            *(headers or []),
        ]
        await send({"type": "http.response.start", "status": status, "headers": all_headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _as_stream(behaviour: Behaviour, model: str, want_usage: bool) -> Stream:
    """Any streaming behaviour as its raw frames."""
    if isinstance(behaviour, Stream):
        return behaviour
    if isinstance(behaviour, StreamText):
        frames = _text_frames(model, behaviour.chunks)
        frames.append(chunk(model, finish_reason=behaviour.finish_reason))
        if want_usage and behaviour.usage is not None:
            frames.append(usage_chunk(model, *behaviour.usage))
        return Stream(frames, delay=behaviour.delay)
    if isinstance(behaviour, StreamToolCalls):
        frames = _tool_frames(behaviour, model)
        if want_usage and behaviour.usage is not None:
            frames.append(usage_chunk(model, *behaviour.usage))
        return Stream(frames, delay=behaviour.delay)
    if isinstance(behaviour, MalformedChunk):
        return Stream([*_text_frames(model, behaviour.before), behaviour.line], done=False)
    if isinstance(behaviour, DropConnection):
        frames = _text_frames(model, behaviour.before)
        return Stream(frames, delay=behaviour.delay, drop=True)
    raise TypeError(f"not a streaming behaviour: {behaviour!r}")


def _non_streamed(behaviour: StreamText | StreamToolCalls, model: str) -> dict[str, Any]:
    if isinstance(behaviour, StreamText):
        text = {"role": "assistant", "content": "".join(behaviour.chunks)}
        return _completion(model, text, behaviour.finish_reason, behaviour.usage)
    calls: list[dict[str, Any]] = [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in behaviour.calls
    ]
    message = {"role": "assistant", "content": behaviour.content, "tool_calls": calls}
    return _completion(model, message, "tool_calls", behaviour.usage)


def _error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}
            for name in MODELS
        ],
    }
