"""The Redis event bus: events published in one process reach subscribers in another,
once each, in order; the publisher's own subscribers get them once, without Redis."""

from __future__ import annotations

import asyncio

from agio.bus.redis import RedisBus
from agio.domain.events import Event
from agio.domain.time import utcnow
from tests.conftest import redis_settings


def _events(run_id: str, first: int, count: int) -> list[Event]:
    return [
        Event(run_id, seq, "content_delta", utcnow(), {"content": f"é{seq}", "n": [seq, None]})
        for seq in range(first, first + count)
    ]


async def test_events_cross_processes_once_and_in_order(redis_url: str) -> None:
    config = redis_settings(redis_url)
    one = RedisBus(config["redis_url"], config["redis_prefix"])
    two = RedisBus(config["redis_url"], config["redis_prefix"])
    other_deployment = RedisBus(config["redis_url"], config["redis_prefix"] + "_x")
    await one.start()
    await two.start()
    await other_deployment.start()
    try:
        local = one.subscribe("run_1")
        remote = two.subscribe("run_1")
        elsewhere = other_deployment.subscribe("run_1")
        unrelated = two.subscribe("run_2")
        sent = _events("run_1", 1, 5) + _events("run_1", 6, 3)
        await one.publish("run_1", sent[:5])
        await one.publish("run_1", sent[5:])
        got = [await asyncio.wait_for(remote.get(), 5) for _ in sent]
        assert [(e.seq, e.type, e.data, e.timestamp) for e in got] == [
            (e.seq, e.type, e.data, e.timestamp) for e in sent
        ]
        assert [await asyncio.wait_for(local.get(), 5) for _ in sent] == sent
        await asyncio.sleep(0.2)  # anything extra would have arrived by now
        assert local.queue.empty()  # its own message from Redis was not delivered again
        assert remote.queue.empty()
        assert unrelated.queue.empty()
        assert elsewhere.queue.empty()  # another prefix is another deployment
        assert not remote.lagged
    finally:
        for bus in (one, two, other_deployment):
            await bus.close()
