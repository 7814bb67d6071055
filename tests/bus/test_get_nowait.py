"""`Subscription.get_nowait`: the next event that has already arrived, else None, never
waiting; on the in-process bus and on the Redis bus (local and cross-process delivery)."""

from __future__ import annotations

import asyncio

from agio.bus.memory import InProcessBus
from agio.bus.redis import RedisBus
from agio.domain.events import Event
from agio.domain.time import utcnow
from tests.conftest import redis_settings


def _events(first: int, count: int) -> list[Event]:
    return [
        Event("run_1", s, "content_delta", utcnow(), {"n": s}) for s in range(first, first + count)
    ]


async def test_in_process_get_nowait() -> None:
    bus = InProcessBus()
    sub = bus.subscribe("run_1")
    assert sub.get_nowait() is None
    sent = _events(1, 3)
    await bus.publish("run_1", sent)
    assert [sub.get_nowait(), sub.get_nowait(), sub.get_nowait()] == sent
    assert sub.get_nowait() is None
    await bus.publish("run_1", _events(4, 1))
    assert (await sub.get()).seq == 4  # get and get_nowait read the same queue
    assert sub.get_nowait() is None
    sub.close()


async def test_redis_get_nowait(redis_url: str) -> None:
    config = redis_settings(redis_url)
    one = RedisBus(config["redis_url"], config["redis_prefix"])
    two = RedisBus(config["redis_url"], config["redis_prefix"])
    await one.start()
    await two.start()
    try:
        local = one.subscribe("run_1")
        remote = two.subscribe("run_1")
        assert local.get_nowait() is None
        assert remote.get_nowait() is None
        sent = _events(1, 3)
        await one.publish("run_1", sent)
        # locally delivered at once
        assert [local.get_nowait() for _ in sent] == sent
        assert local.get_nowait() is None
        # one Redis message carries the batch: once the first event is in, so is the rest
        first = await asyncio.wait_for(remote.get(), 5)
        rest = [remote.get_nowait(), remote.get_nowait()]
        assert [first.seq] + [e.seq for e in rest if e is not None] == [1, 2, 3]
        assert remote.get_nowait() is None
    finally:
        await one.close()
        await two.close()
