"""Server-Sent Events for runs: replay the stored log after `Last-Event-ID`, then follow the
bus, de-duplicating by `seq`, until the run's terminal event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from agio.bus.base import EventBus
from agio.domain.events import Event
from agio.storage.runs import RunRepository

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_PAGE = 500
_POLL_SECONDS = 1.0


def to_sse(event: Event) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(event.data, ensure_ascii=False, separators=(",", ":")),
        event=event.type,
        id=str(event.seq),
    )


async def run_events(
    runs: RunRepository, bus: EventBus, run_id: str, after_seq: int
) -> AsyncIterator[ServerSentEvent]:
    subscription = bus.subscribe(run_id)  # before reading storage: nothing falls between
    last = after_seq
    quiet = False
    try:
        while True:
            # replay what is stored after `last`
            while True:
                # shielded: a client that goes away must not cancel a query half-way
                # (that would discard the database connection)
                batch = await asyncio.shield(runs.events_after(run_id, last, _PAGE))
                for event in batch:
                    yield to_sse(event)
                    last = event.seq
                    if event.terminal:
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
                try:
                    event = await asyncio.wait_for(subscription.get(), _POLL_SECONDS)
                except TimeoutError:
                    quiet = True
                    break
                if subscription.lagged:
                    subscription.lagged = False
                    break
                if event.seq <= last:
                    continue
                if event.seq != last + 1:
                    break
                yield to_sse(event)
                last = event.seq
                if event.terminal:
                    return
    finally:
        subscription.close()


def event_stream_response(
    runs: RunRepository,
    bus: EventBus,
    run_id: str,
    after_seq: int,
    *,
    ping: float,
    headers: dict[str, str] | None = None,
) -> EventSourceResponse:
    return EventSourceResponse(
        run_events(runs, bus, run_id, after_seq),
        ping=ping,
        headers={**SSE_HEADERS, **(headers or {})},
    )
