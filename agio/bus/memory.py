"""In-process event bus: one bounded queue per subscriber."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import structlog

from agio.bus.base import NoticeHandler
from agio.domain.events import Event

log = structlog.get_logger(__name__)


class MemorySubscription:
    def __init__(self, bus: InProcessBus, run_id: str, maxsize: int) -> None:
        self._bus = bus
        self.run_id = run_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.lagged = False

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True  # the reader catches up from the event log

    async def get(self) -> Event:
        return await self.queue.get()

    def get_nowait(self) -> Event | None:
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self._bus.unsubscribe(self)


class InProcessBus:
    """Fan-out inside one process (across processes: `agio.bus.redis.RedisBus`)."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subs: dict[str, set[MemorySubscription]] = {}
        self._queue_size = queue_size
        self._notice_handlers: list[NoticeHandler] = []

    def on_notice(self, handler: NoticeHandler) -> None:
        self._notice_handlers.append(handler)

    def notify(self, topic: str, data: dict[str, Any]) -> None:
        for handler in tuple(self._notice_handlers):
            try:
                handler(topic, data)
            except Exception:  # one broken handler does not keep the notice from the others
                log.exception("notice_handler_failed", topic=topic)

    def subscribe(self, run_id: str) -> MemorySubscription:
        sub = MemorySubscription(self, run_id, self._queue_size)
        self._subs.setdefault(run_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: MemorySubscription) -> None:
        subs = self._subs.get(sub.run_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.run_id]

    def subscriber_count(self, run_id: str | None = None) -> int:
        if run_id is not None:
            return len(self._subs.get(run_id, ()))
        return sum(len(s) for s in self._subs.values())

    def mark_all_lagged(self) -> None:
        """Tell every subscriber to re-read the event log (events may have been lost)."""
        for subs in self._subs.values():
            for sub in subs:
                sub.lagged = True

    async def publish(self, run_id: str, events: Sequence[Event]) -> None:
        for sub in tuple(self._subs.get(run_id, ())):
            for event in events:
                sub.offer(event)

    async def close(self) -> None:
        self._subs.clear()
        self._notice_handlers.clear()
