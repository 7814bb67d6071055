"""Following a run: its stored events after a sequence number, then the live ones, until
the run's terminal event.

The order of the steps is what makes it gap-free: subscribe to the bus first, then replay
the event log, so that an event stored while the log is being read is on the subscription
too. Live events are de-duplicated by `seq` (what the replay already gave is skipped). A
gap in `seq`, a lagged subscription (the bus dropped events for this reader) or a quiet
spell (nothing on the bus for `poll_seconds`: a run executing in another process without a
shared bus) sends the reader back to the log, which is the source of truth.

Events that are ready together (a page of the log, or what the bus already delivered) are
yielded as one list; nothing ever waits for more to join.

A reader that subscribed before the run published anything (`subscription`: a new run's
stream, subscribed before its task started) skips the first replay: every event the run
publishes is on the subscription, so the log is read only if the bus drops or reorders.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Protocol

from agio.bus.base import EventBus, Subscription
from agio.domain.events import Event
from agio.domain.runs import Run

PAGE = 500
POLL_SECONDS = 1.0


class EventLog(Protocol):
    """What following reads of the stored events (`agio.storage.events.EventRepository`)."""

    async def events_after(self, run_id: str, after_seq: int, limit: int = 1000) -> list[Event]: ...


class RunLookup(Protocol):
    """What following reads of a run (`agio.storage.runs.RunReadRepository`)."""

    async def get_run(self, run_id: str, *, with_steps: bool = False) -> Run | None: ...


async def follow(
    events: EventLog,
    runs: RunLookup,
    bus: EventBus,
    run_id: str,
    after_seq: int,
    *,
    page: int = PAGE,
    poll_seconds: float = POLL_SECONDS,
    subscription: Subscription | None = None,
) -> AsyncGenerator[list[Event], None]:
    """The run's events after `after_seq`, each exactly once and in `seq` order, in lists
    of the events that were ready together. Ends after the terminal event, or when the run
    has ended and nothing after `after_seq` is left to wait for (or the run is gone).

    `subscription`, if given, was made on `bus` before the run published any event after
    `after_seq` (it is closed at the end, like one made here): the first replay is skipped."""
    replay = subscription is None
    if subscription is None:
        subscription = bus.subscribe(run_id)  # before reading storage: nothing falls between
    last = after_seq
    quiet = False
    try:
        while True:
            # replay what is stored after `last` (not at first if subscribed before the run)
            while replay:
                # shielded: a client that goes away must not cancel a query half-way
                # (that would discard the database connection)
                batch = await asyncio.shield(events.events_after(run_id, last, page))
                chunk: list[Event] = []
                finished = False
                for event in batch:
                    chunk.append(event)
                    last = event.seq
                    if event.terminal:
                        finished = True
                        break
                if chunk:
                    yield chunk
                if finished:
                    return
                if len(batch) < page:
                    break
            replay = True
            if quiet:
                # nothing new for a while: a reader that resumed after the run's last
                # event (at or past the end) has nothing more to wait for
                run = await asyncio.shield(runs.get_run(run_id))
                if run is None or (run.status.terminal and last >= run.last_seq):
                    return
            quiet = False
            # then follow live events until a gap, a lag or a quiet spell sends us back to
            # storage
            while True:
                next_event = subscription.get_nowait()
                if next_event is None:
                    try:
                        async with asyncio.timeout(poll_seconds):
                            next_event = await subscription.get()
                    except TimeoutError:
                        quiet = True
                        break
                chunk, finished, back_to_log, last = _live_chunk(subscription, next_event, last)
                if chunk:
                    yield chunk
                if finished:
                    return
                if back_to_log:
                    break
    finally:
        subscription.close()


def _live_chunk(
    subscription: Subscription, first: Event, last: int
) -> tuple[list[Event], bool, bool, int]:
    """`first` and the events already arrived after it, up to a terminal event, a gap or a
    lag: (the new events in order, finished, back to the log, the last seq given)."""
    chunk: list[Event] = []
    next_event: Event | None = first
    while next_event is not None:
        if subscription.lagged:
            subscription.lagged = False
            return chunk, False, True, last
        if next_event.seq > last:  # at or before `last`: given already
            if next_event.seq != last + 1:
                return chunk, False, True, last
            chunk.append(next_event)
            last = next_event.seq
            if next_event.terminal:
                return chunk, True, False, last
        next_event = subscription.get_nowait()
    return chunk, False, False, last
