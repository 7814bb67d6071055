"""The `EventBus` protocol: publish a run's events after they are stored; subscribe to them.
And notices: small messages every process hears (a cache entry that is no longer true)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from agio.domain.events import Event


class Subscription(Protocol):
    """Events of one run as they are published. `lagged` turns true when events were
    dropped because the subscriber fell behind; it must then re-read the event log."""

    lagged: bool

    async def get(self) -> Event:
        """The next event, waiting for it."""
        ...

    def get_nowait(self) -> Event | None:
        """The next event if it has already arrived, else None (never waits)."""
        ...

    def close(self) -> None: ...


#: called with (topic, data) for every notice, this process's own included
NoticeHandler = Callable[[str, dict[str, Any]], None]

#: the topic handlers hear when notices may have been lost (the bus reconnected to Redis):
#: whatever a handler caches may be stale, so it forgets all of it
NOTICES_LOST = "notices_lost"


class EventBus(Protocol):
    def subscribe(self, run_id: str) -> Subscription: ...

    async def publish(self, run_id: str, events: Sequence[Event]) -> None: ...

    def subscriber_count(self, run_id: str | None = None) -> int:
        """How many subscriptions of this process follow `run_id` (all runs without it)."""
        ...

    def notify(self, topic: str, data: dict[str, Any]) -> None:
        """Tell every process (this one at once, before returning; the others as soon as
        the message arrives). At most once across processes: see `NOTICES_LOST`."""
        ...

    def on_notice(self, handler: NoticeHandler) -> None:
        """Call `handler` for every notice from now on."""
        ...

    async def close(self) -> None: ...
