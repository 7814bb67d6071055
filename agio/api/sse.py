"""Server-Sent Events for runs: the encoding of a run's events as SSE messages, the
reconnection hint, the gauge of open streams and the `EventSourceResponse`.

What to send (the stored log after `Last-Event-ID`, then the live events, de-duplicated,
until the terminal event) is `RunService.follow` (`agio.runtime.follow`). Each list of
events it yields (those ready together) goes out as one chunk: the bytes on the wire are
the same as one message per chunk, with a fraction of the per-send cost.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from prometheus_client import Gauge
from sse_starlette import EventSourceResponse, ServerSentEvent

from agio.domain.events import Event

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _data(event: Event) -> str:
    return json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))


def to_sse(event: Event) -> ServerSentEvent:
    return ServerSentEvent(data=_data(event), event=event.type, id=str(event.seq))


def encode(event: Event) -> bytes:
    """One event as an SSE message: the bytes `to_sse(event).encode()` makes. JSON has no
    raw line breaks (it escapes them), nor do event types and sequence numbers, so every
    field is one line."""
    return f"id: {event.seq}\r\nevent: {event.type}\r\ndata: {_data(event)}\r\n\r\n".encode()


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
