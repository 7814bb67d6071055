"""The `EventBus` protocol: publish a run's events after they are stored; subscribe to them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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


class EventBus(Protocol):
    def subscribe(self, run_id: str) -> Subscription: ...

    async def publish(self, run_id: str, events: Sequence[Event]) -> None: ...

    async def close(self) -> None: ...
