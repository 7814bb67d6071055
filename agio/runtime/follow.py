"""Following a run: its stored events after a sequence number, then the live ones, until
the run's terminal event.

The order of the steps is what makes it gap-free: subscribe to the bus first, then replay
the event log, so that an event stored while the log is being read is on the subscription
too. Live events are de-duplicated by `seq` (what the replay already gave is skipped). A
gap in `seq` or a lagged subscription (the bus dropped events for this reader) sends the
reader back to the log, which is the source of truth. So does a quiet spell, if the run's
row says more is stored than was seen (a run executing in another process without a shared
bus, or a message Redis lost): the row is read after `poll_seconds` of quiet while the run
executes in another process, and after ever longer spells (doubling, up to
`QUIET_MAX_SECONDS`) while it is paused or its events are this process's own, so that an
idle stream costs next to nothing.

Events that are ready together (a page of the log, or what the bus already delivered) are
yielded as one list; nothing ever waits for more to join.

A reader that subscribed before the run published anything (`subscription`: a new run's
stream, subscribed before its task started) skips the first replay: every event the run
publishes is on the subscription, so the log is read only if the bus drops or reorders.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator
from typing import Protocol

from agio.bus.base import EventBus, Subscription
from agio.domain.events import Event
from agio.domain.runs import Run, RunStatus

PAGE = 500
POLL_SECONDS = 1.0
#: the longest quiet spell before the log is checked, for a run that is not executing in
#: another process (a paused one, or one whose events this process's bus carries)
QUIET_MAX_SECONDS = 30.0


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
    quiet_max_seconds: float = QUIET_MAX_SECONDS,
    local_owner: str | None = None,
    subscription: Subscription | None = None,
) -> AsyncGenerator[list[Event], None]:
    """The run's events after `after_seq`, each exactly once and in `seq` order, in lists
    of the events that were ready together. Ends after the terminal event, or when the run
    has ended and nothing after `after_seq` is left to wait for (or the run is gone).

    `subscription`, if given, was made on `bus` before the run published any event after
    `after_seq` (it is closed at the end, like one made here): the first replay is skipped.
    `local_owner`: this process's owner id (a run it executes publishes on this bus)."""
    replay = subscription is None
    if subscription is None:
        subscription = bus.subscribe(run_id)  # before reading storage: nothing falls between
    last = after_seq
    wait = poll_seconds
    try:
        while True:
            # replay what is stored after `last` (not at first if subscribed before the run)
            while replay:
                # shielded: a client that goes away must not cancel a query half-way
                # (that would discard the database connection)
                batch = await asyncio.shield(events.events_after(run_id, last, page))
                chunk, finished, last = _stored_chunk(batch, last)
                full = len(batch) == page
                del batch  # nothing replayed stays referenced while the stream waits
                if chunk:
                    yield chunk
                    wait = poll_seconds
                del chunk
                if finished:
                    return
                if not full:
                    break
            replay = True
            # then follow live events until a gap, a lag or a quiet spell sends us back to
            # storage
            quiet = False
            while True:
                next_event = subscription.get_nowait()
                if next_event is None:
                    try:
                        async with asyncio.timeout(_jittered(wait)):
                            next_event = await subscription.get()
                    except TimeoutError:
                        quiet = True
                        break
                wait = poll_seconds
                chunk, finished, back_to_log, last = _live_chunk(subscription, next_event, last)
                if chunk:
                    yield chunk
                del chunk
                if finished:
                    return
                if back_to_log:
                    break
            if not quiet:
                continue  # a gap or a lag: straight back to the log
            # a quiet spell: has anything been stored that the bus did not bring?
            run = await asyncio.shield(runs.get_run(run_id))
            if run is None or (run.status.terminal and last >= run.last_seq):
                return  # gone, or ended with nothing more after `last`
            replay = run.last_seq > last
            if not replay:
                wait = _next_wait(wait, run, local_owner, poll_seconds, quiet_max_seconds)
    finally:
        subscription.close()


def _stored_chunk(batch: list[Event], last: int) -> tuple[list[Event], bool, int]:
    """The events of a page of the log up to a terminal one: (them, finished, last seq)."""
    chunk: list[Event] = []
    for event in batch:
        chunk.append(event)
        last = event.seq
        if event.terminal:
            return chunk, True, last
    return chunk, False, last


def _next_wait(
    wait: float, run: Run, local_owner: str | None, poll_seconds: float, most: float
) -> float:
    """How long the next quiet spell may last before the log is checked again. A run
    executing in another process, which may publish on a bus this process does not hear,
    is checked every `poll_seconds`; any other (paused, not started, or executed here,
    whose events this bus carries) ever less often, up to `most`."""
    elsewhere = run.status is RunStatus.RUNNING and (
        local_owner is None or run.owner_id != local_owner
    )
    return poll_seconds if elsewhere else min(wait * 2, most)


def _jittered(seconds: float) -> float:
    """`seconds` ± 10 %: streams opened together do not all check the log together."""
    return seconds * (0.9 + 0.2 * random.random())  # noqa: S311  # spreading, not secrecy


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


class SharedRunLookup:
    """Run rows for the quiet-spell checks of many streams, read once per run: a row read
    less than `max_age` seconds ago is answered again, and a read in flight is shared (so
    10,000 streams over 100 runs read 100 rows a spell, not 10,000)."""

    def __init__(self, runs: RunLookup, max_age: float = POLL_SECONDS / 2) -> None:
        self._runs = runs
        self._max_age = max_age
        self._fresh: dict[str, tuple[float, Run | None]] = {}
        self._reading: dict[str, asyncio.Future[Run | None]] = {}

    async def get_run(self, run_id: str, *, with_steps: bool = False) -> Run | None:
        if with_steps:
            return await self._runs.get_run(run_id, with_steps=True)
        now = asyncio.get_running_loop().time()
        fresh = self._fresh.get(run_id)
        if fresh is not None and now - fresh[0] < self._max_age:
            return fresh[1]
        reading = self._reading.get(run_id)
        if reading is None:
            reading = asyncio.ensure_future(self._read(run_id, now))
            self._reading[run_id] = reading
        return await asyncio.shield(reading)

    async def _read(self, run_id: str, started: float) -> Run | None:
        try:
            run = await self._runs.get_run(run_id)
            self._fresh[run_id] = (started, run)
            if len(self._fresh) > 10_000:  # forget the oldest half
                for old in sorted(self._fresh, key=lambda k: self._fresh[k][0])[:5_000]:
                    del self._fresh[old]
            return run
        finally:
            del self._reading[run_id]
