"""Server-Sent Events for runs: the encoding of a run's events as SSE messages, the
reconnection hint, the gauge of open streams and the `EventSourceResponse`.

What to send (the stored log after `Last-Event-ID`, then the live events, de-duplicated,
until the terminal event) is `RunService.follow` (`agio.runtime.follow`). Each list of
events it yields (those ready together) goes out as one chunk: the bytes on the wire are
the same as one message per chunk, with a fraction of the per-send cost.

An event's message is encoded once (orjson) and shared: every stream of the same run
that sends the same event within a short while gets the same bytes object, from a small
bounded cache keyed by (run id, seq) (`EncodedEvents`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson
from prometheus_client import Gauge
from sse_starlette import EventSourceResponse, ServerSentEvent

from agio.domain.events import Event

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _json(data: dict[str, Any]) -> bytes:
    """`data` as compact JSON in UTF-8, non-ASCII characters as they are (not `\\u`
    escapes): what `json.dumps(data, ensure_ascii=False, separators=(",", ":"))` wrote,
    by orjson. Keys that are not strings become strings as json's encoder makes them;
    integers beyond 64 bits, which orjson refuses, go through json's encoder. NaN and
    infinities become `null` (json's encoder wrote `NaN`, which is not JSON; the REST
    API's pydantic encoding writes `null` too)."""
    for option in (None, orjson.OPT_NON_STR_KEYS):
        with contextlib.suppress(orjson.JSONEncodeError):
            return orjson.dumps(data, option=option)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def to_sse(event: Event) -> ServerSentEvent:
    return ServerSentEvent(data=_json(event.data).decode(), event=event.type, id=str(event.seq))


def _message(event: Event) -> bytes:
    # JSON has no raw CR or LF (it escapes them), nor do event types and sequence numbers,
    # so every field is one line
    return b"id: %d\r\nevent: %s\r\ndata: %s\r\n\r\n" % (
        event.seq,
        event.type.encode(),
        _json(event.data),
    )


class EncodedEvents:
    """The SSE messages of recent events, by (run id, seq), at most `entries` of them and
    `max_bytes` in all (the oldest go first): the streams of one run get the same event at
    about the same time, so a short memory is enough to encode it once. An entry is used
    only for the same event (the same object, or an equal one), so that two events that
    share a key (two databases in one process) never share bytes."""

    def __init__(self, entries: int = 1024, max_bytes: int = 4 * 1024 * 1024) -> None:
        self._entries = entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._cache: dict[tuple[str, int], tuple[Event, bytes]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def encode(self, event: Event) -> bytes:
        key = (event.run_id, event.seq)
        cached = self._cache.get(key)
        if cached is not None and (cached[0] is event or cached[0] == event):
            return cached[1]
        message = _message(event)
        if cached is not None:
            self._bytes -= len(self._cache.pop(key)[1])
        if len(message) <= self._max_bytes:
            self._cache[key] = (event, message)
            self._bytes += len(message)
            while len(self._cache) > self._entries or self._bytes > self._max_bytes:
                oldest = next(iter(self._cache))
                self._bytes -= len(self._cache.pop(oldest)[1])
        return message


_SHARED = EncodedEvents()


def encode(event: Event) -> bytes:
    """One event as an SSE message: the bytes `to_sse(event).encode()` makes, shared with
    the other streams that send the same event (`EncodedEvents`)."""
    return _SHARED.encode(event)


async def encoded(chunks: AsyncGenerator[list[Event], None]) -> AsyncIterator[bytes]:
    """Each list of events as one chunk of SSE messages. A stream that ends early (the
    client went away) closes `chunks` at once, which ends its bus subscription."""
    async with aclosing(chunks):
        async for events in chunks:
            yield b"".join(encode(event) for event in events)


async def _counted(
    stream: AsyncIterator[bytes], gauge: Gauge | None, retry_ms: int | None
) -> AsyncIterator[bytes]:
    if retry_ms is not None:
        # first, how long to wait before reconnecting if the stream ends early (a server
        # shutting down lets its streams go; the client comes back with Last-Event-ID)
        yield f"retry: {retry_ms}\r\n\r\n".encode()
    if gauge is not None:
        gauge.inc()
    try:
        async for chunk in stream:
            yield chunk
    finally:
        if gauge is not None:
            gauge.dec()


def event_stream_response(
    events: AsyncGenerator[list[Event], None],
    *,
    ping: float,
    headers: dict[str, str] | None = None,
    open_streams: Gauge | None = None,
    retry_ms: int | None = None,
) -> EventSourceResponse:
    """`events` as SSE (`RunService.follow`); `open_streams`: a gauge that counts the
    streams being served; `retry_ms`: the reconnection hint the stream starts with."""
    return EventSourceResponse(
        _counted(encoded(events), open_streams, retry_ms),
        ping=ping,
        headers={**SSE_HEADERS, **(headers or {})},
    )


def counted_stream_response(
    chunks: AsyncIterator[str],
    *,
    ping: float,
    headers: dict[str, str] | None = None,
    open_streams: Gauge | None = None,
) -> EventSourceResponse:
    """A stream of SSE messages encoded elsewhere (AG-UI's), counted in `open_streams`."""
    return EventSourceResponse(
        _counted((chunk.encode() async for chunk in chunks), open_streams, None),
        ping=ping,
        headers={**SSE_HEADERS, **(headers or {})},
    )
