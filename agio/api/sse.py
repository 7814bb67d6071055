"""Server-Sent Events for runs: replay the stored log after `Last-Event-ID`, then follow the
bus, de-duplicating by `seq`, until the run's terminal event.

Events that are ready together (a page of the log, or what the bus already delivered) go
out as one chunk: the bytes on the wire are the same as one message per chunk, with a
fraction of the per-send cost, and nothing ever waits for more to join.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

from prometheus_client import Gauge
from sse_starlette import EventSourceResponse, ServerSentEvent

from agio.bus.base import EventBus, Subscription
from agio.domain.events import Event
from agio.storage.runs import RunRepository

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_PAGE = 500
_POLL_SECONDS = 1.0


def _data(event: Event) -> str:
    return json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))


def to_sse(event: Event) -> ServerSentEvent:
    return ServerSentEvent(data=_data(event), event=event.type, id=str(event.seq))


def encode(event: Event) -> bytes:
    """One event as an SSE message: the bytes `to_sse(event).encode()` makes. JSON has no
    raw line breaks (it escapes them), nor do event types and sequence numbers, so every
    field is one line."""
    return f"id: {event.seq}\r\nevent: {event.type}\r\ndata: {_data(event)}\r\n\r\n".encode()


def _ready_events(subscription: Subscription) -> Callable[[], Event | None]:
    """A function returning the subscription's next event if it has already arrived, else
    None (never waiting); for a bus that does not expose its queue, always None."""
    queue = getattr(subscription, "queue", None)
    if not isinstance(queue, asyncio.Queue):
        return lambda: None

    def ready() -> Event | None:
        if queue.empty():
            return None
        event: Event = queue.get_nowait()
        return event

    return ready


async def run_events(
    runs: RunRepository, bus: EventBus, run_id: str, after_seq: int
) -> AsyncIterator[bytes]:
    """The run's events after `after_seq` as encoded SSE messages, several to a chunk when
    they are ready together."""
    subscription = bus.subscribe(run_id)  # before reading storage: nothing falls between
    ready = _ready_events(subscription)
    last = after_seq
    quiet = False
    try:
        while True:
            # replay what is stored after `last`
            while True:
                # shielded: a client that goes away must not cancel a query half-way
                # (that would discard the database connection)
                batch = await asyncio.shield(runs.events_after(run_id, last, _PAGE))
                chunk: list[bytes] = []
                finished = False
                for event in batch:
                    chunk.append(encode(event))
                    last = event.seq
                    if event.terminal:
                        finished = True
                        break
                if chunk:
                    yield b"".join(chunk)
                if finished:
                    return
                if len(batch) < _PAGE:
                    break
            if quiet:
                # nothing new for a while: a client that resumed after the run's last
                # event (Last-Event-ID at or past the end) has nothing more to wait for
                run = await asyncio.shield(runs.get_run(run_id))
                if run is None or (run.status.terminal and last >= run.last_seq):
                    return
            quiet = False
            # then follow live events until a gap, a lag or a quiet spell sends us back to
            # storage (a run executing in another process without a shared bus is followed
            # through the event log alone)
            while True:
                next_event = ready()
                if next_event is None:
                    try:
                        async with asyncio.timeout(_POLL_SECONDS):
                            next_event = await subscription.get()
                    except TimeoutError:
                        quiet = True
                        break
                chunk = []
                finished = back_to_storage = False
                while next_event is not None:
                    if subscription.lagged:
                        subscription.lagged = False
                        back_to_storage = True
                        break
                    if next_event.seq > last:
                        if next_event.seq != last + 1:
                            back_to_storage = True
                            break
                        chunk.append(encode(next_event))
                        last = next_event.seq
                        if next_event.terminal:
                            finished = True
                            break
                    next_event = ready()
                if chunk:
                    yield b"".join(chunk)
                if finished:
                    return
                if back_to_storage:
                    break
    finally:
        subscription.close()


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
    runs: RunRepository,
    bus: EventBus,
    run_id: str,
    after_seq: int,
    *,
    ping: float,
    headers: dict[str, str] | None = None,
    open_streams: Gauge | None = None,
    retry_ms: int | None = None,
) -> EventSourceResponse:
    """`open_streams`: a gauge that counts the streams being served; `retry_ms`: the
    reconnection hint the stream starts with."""
    return EventSourceResponse(
        _counted(run_events(runs, bus, run_id, after_seq), open_streams, retry_ms),
        ping=ping,
        headers={**SSE_HEADERS, **(headers or {})},
    )
