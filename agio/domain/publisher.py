"""`EventPublisher`: what the storage layer needs of the event bus to publish stored events.

The bus (`agio.bus.base.EventBus`) satisfies it structurally, so storage can take a
publisher without importing the bus layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agio.domain.events import Event


class EventPublisher(Protocol):
    """Publishes a run's events once they are stored; a failure costs subscribers their
    live events (they re-read the log), never the stored data."""

    async def publish(self, run_id: str, events: Sequence[Event]) -> None: ...

    def subscriber_count(self, run_id: str | None = None) -> int:
        """How many follow `run_id`'s events in this process (all runs' without it)."""
        ...
