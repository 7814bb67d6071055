"""Event bus across processes: Redis pub/sub, with local delivery in the publishing process.

`publish` hands the events to this process's own subscribers at once (as the in-process
bus does) and publishes them, as one JSON message per batch, on the run's channel
`<prefix>:events:<run_id>`. Every process keeps one pattern subscription on
`<prefix>:events:*` (made before the bus is used, so nothing published later is missed)
and passes what other processes published to its local subscribers.

Pub/sub is at-most-once: a message lost while Redis or the connection is down is not
replayed. That is safe because the event log is the source of truth: a subscriber that
sees a gap in `seq`, or nothing for a second, reads the log (`agio.runtime.follow`), and
the listener marks every subscription lagged after it reconnects. Subscriptions are the
local bus's (`MemorySubscription`: `get`, `get_nowait`, `lagged`).

Notices (`notify`) go to this process's handlers at once and to the others on the channel
`<prefix>:notices`, subscribed on the same connection as the events. After a reconnect the
handlers hear `NOTICES_LOST`, since a notice may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
import structlog

from agio.bus.base import NOTICES_LOST, NoticeHandler
from agio.bus.memory import InProcessBus, MemorySubscription
from agio.domain.events import Event

log = structlog.get_logger(__name__)


def _encode(origin: str, run_id: str, events: Sequence[Event]) -> str:
    return json.dumps(
        {
            "origin": origin,
            "run_id": run_id,
            "events": [[e.seq, e.type, e.timestamp.isoformat(), e.data] for e in events],
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _decode(raw: bytes | str) -> tuple[str, str, list[Event]]:
    message: dict[str, Any] = json.loads(raw)
    run_id = message["run_id"]
    events = [
        Event(run_id=run_id, seq=seq, type=type_, timestamp=datetime.fromisoformat(ts), data=data)
        for seq, type_, ts, data in message["events"]
    ]
    return message["origin"], run_id, events


class RedisBus:
    def __init__(self, url: str, prefix: str, *, queue_size: int = 10_000) -> None:
        self._local = InProcessBus(queue_size)
        # publishing: a timeout on every command, so a hung Redis costs remote readers their
        # live events (they read the log), never this process's writes
        self._redis = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        # listening: no read timeout (quiet is normal) but a health check, so that a
        # half-open connection is noticed and replaced
        self._prefix = prefix
        self._origin = uuid.uuid4().hex
        self._listen_redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=5,
            health_check_interval=15,
            client_name=f"agio-bus-{self._origin}",  # to tell it apart in CLIENT LIST
        )
        self._listener: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(queue_size)
        self._ready = asyncio.Event()

    def _channel(self, run_id: str) -> str:
        return f"{self._prefix}:events:{run_id}"

    @property
    def _notices(self) -> str:
        return f"{self._prefix}:notices"

    async def start(self) -> None:
        """Subscribe (and wait until Redis confirms it), then listen in the background."""
        self._sender = asyncio.create_task(self._send(), name="agio-redis-bus-sender")
        self._listener = asyncio.create_task(self._listen(), name="agio-redis-bus")
        waiter = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {waiter, self._listener}, timeout=10, return_when=asyncio.FIRST_COMPLETED
        )
        if self._listener in done:
            waiter.cancel()
            self._listener.result()  # raises what stopped it
        if not self._ready.is_set():
            waiter.cancel()
            raise ConnectionError("Redis did not confirm the event subscription in 10 s")

    async def _listen(self) -> None:
        pattern = f"{self._prefix}:events:*"
        first = True
        while True:
            pubsub = self._listen_redis.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                await pubsub.subscribe(self._notices)
                if not first:
                    # messages may have been lost while disconnected: readers re-read the log
                    self._local.mark_all_lagged()
                    self._local.notify(NOTICES_LOST, {})
                    log.info("redis_bus_reconnected")
                first = False
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._on_notice(message["data"])
                        continue
                    if message.get("type") != "pmessage":
                        continue
                    try:
                        origin, run_id, events = _decode(message["data"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("redis_bus_bad_message")
                        continue
                    if origin != self._origin:
                        await self._local.publish(run_id, events)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if first:
                    raise
                log.warning("redis_bus_disconnected", error=type(exc).__name__)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _on_notice(self, raw: bytes | str) -> None:
        try:
            message = json.loads(raw)
            origin, topic, data = message["origin"], message["topic"], message["data"]
        except (ValueError, KeyError, TypeError):
            log.warning("redis_bus_bad_notice")
            return
        if origin != self._origin:
            self._local.notify(str(topic), dict(data))

    def subscribe(self, run_id: str) -> MemorySubscription:
        return self._local.subscribe(run_id)

    def on_notice(self, handler: NoticeHandler) -> None:
        self._local.on_notice(handler)

    def notify(self, topic: str, data: dict[str, Any]) -> None:
        """This process's handlers now; the others' through Redis (in order with the
        events this process publishes)."""
        self._local.notify(topic, data)
        message = json.dumps({"origin": self._origin, "topic": topic, "data": data})
        try:
            self._outbox.put_nowait((self._notices, message))
        except asyncio.QueueFull:  # the others' caches expire on their own (see callers)
            log.warning("redis_notice_dropped", topic=topic)

    async def publish(self, run_id: str, events: Sequence[Event]) -> None:
        """Deliver to this process's subscribers now; queue for Redis (sent in order by
        one task, so that the run writer never waits for Redis)."""
        await self._local.publish(run_id, events)
        try:
            self._outbox.put_nowait((self._channel(run_id), _encode(self._origin, run_id, events)))
        except asyncio.QueueFull:  # Redis is far behind: remote readers use the event log
            log.warning("redis_publish_dropped", run_id=run_id)

    async def _send(self) -> None:
        while True:
            channel, message = await self._outbox.get()
            try:
                await self._redis.publish(channel, message)
            except Exception as exc:  # other processes fall back to reading the event log
                log.warning("redis_publish_failed", error=type(exc).__name__)
            finally:
                self._outbox.task_done()

    def subscriber_count(self, run_id: str | None = None) -> int:
        return self._local.subscriber_count(run_id)

    async def close(self) -> None:
        # what is queued for Redis goes out first (briefly: Redis may be the problem)
        if self._sender is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._outbox.join()
        for task in (self._listener, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._local.close()
        await self._redis.aclose()
        await self._listen_redis.aclose()
