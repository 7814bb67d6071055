"""Notices: every process's handlers hear them once (the sender's at once, before `notify`
returns); a broken handler does not keep them from the others; after the Redis connection
was lost, handlers hear `NOTICES_LOST`."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from agio.bus.base import NOTICES_LOST
from agio.bus.memory import InProcessBus
from agio.bus.redis import RedisBus
from tests.conftest import redis_settings


def _recorder() -> tuple[list[tuple[str, dict[str, Any]]], Any]:
    heard: list[tuple[str, dict[str, Any]]] = []
    return heard, lambda topic, data: heard.append((topic, data))


async def test_in_process_notice_is_heard_at_once_by_every_handler() -> None:
    bus = InProcessBus()
    heard, record = _recorder()

    def broken(topic: str, data: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    bus.on_notice(broken)
    bus.on_notice(record)
    bus.notify("key_revoked", {"key_hash": "abc"})
    assert heard == [("key_revoked", {"key_hash": "abc"})]  # no await needed
    await bus.close()


async def _until(condition: Any, seconds: float = 5) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


async def test_redis_notice_reaches_other_processes_once(redis_url: str) -> None:
    config = redis_settings(redis_url)
    one = RedisBus(config["redis_url"], config["redis_prefix"])
    two = RedisBus(config["redis_url"], config["redis_prefix"])
    other_deployment = RedisBus(config["redis_url"], config["redis_prefix"] + "_x")
    buses = (one, two, other_deployment)
    for bus in buses:
        await bus.start()
    try:
        (heard_one, rec_one), (heard_two, rec_two) = _recorder(), _recorder()
        heard_x, rec_x = _recorder()
        one.on_notice(rec_one)
        two.on_notice(rec_two)
        other_deployment.on_notice(rec_x)
        one.notify("user_changed", {"user_id": "usr_1"})
        assert heard_one == [("user_changed", {"user_id": "usr_1"})]  # at once, locally
        await _until(lambda: heard_two)
        await asyncio.sleep(0.2)  # an echo or a duplicate would have arrived by now
        assert heard_two == [("user_changed", {"user_id": "usr_1"})]
        assert heard_one == [("user_changed", {"user_id": "usr_1"})]  # not echoed back
        assert heard_x == []  # another prefix is another deployment
    finally:
        for bus in buses:
            await bus.close()


async def test_redis_reconnect_tells_handlers_notices_were_lost(redis_url: str) -> None:
    config = redis_settings(redis_url)
    bus = RedisBus(config["redis_url"], config["redis_prefix"])
    await bus.start()
    admin = aioredis.Redis.from_url(config["redis_url"])
    try:
        heard, record = _recorder()
        bus.on_notice(record)
        clients = await admin.client_list(_type="pubsub")
        mine = [c["id"] for c in clients if c.get("name") == f"agio-bus-{bus._origin}"]
        assert len(mine) == 1
        await admin.client_kill_filter(_id=mine[0])
        await _until(lambda: (NOTICES_LOST, {}) in heard, 10)
        # and it listens again: a notice from another process arrives
        other = RedisBus(config["redis_url"], config["redis_prefix"])
        await other.start()
        try:
            other.notify("component_changed", {"name": "x"})
            await _until(lambda: ("component_changed", {"name": "x"}) in heard)
        finally:
            await other.close()
    finally:
        await admin.aclose()
        await bus.close()
