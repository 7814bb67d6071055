"""The in-memory rate-limit storage (`agio.api.ratelimit.SweptMemoryStorage`): it sweeps
expired entries at most once a second instead of after every hit, and still decides
every hit as `limits` does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from agio.api.ratelimit import SweptMemoryStorage


@pytest.fixture
def sweeps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the library's own sweep scheduling (its private hook, which ours wraps)."""
    calls: list[int] = []
    original = MemoryStorage._MemoryStorage__schedule_expiry  # type: ignore[attr-defined]

    async def counted(self: Any) -> None:
        calls.append(1)
        await original(self)

    monkeypatch.setattr(MemoryStorage, "_MemoryStorage__schedule_expiry", counted)
    return calls


@pytest.mark.parametrize("strategy", [MovingWindowRateLimiter, SlidingWindowCounterRateLimiter])
async def test_a_sweep_a_second_and_the_same_decisions(strategy: Any, sweeps: list[int]) -> None:
    storage = SweptMemoryStorage()
    limiter = strategy(storage)
    item = parse("5/second")
    decisions = [await limiter.hit(item, "user", "chat") for _ in range(8)]
    assert decisions == [True] * 5 + [False] * 3
    assert len(sweeps) == 1  # eight hits, one sweep (the library: one per hit)
    assert await limiter.hit(parse("100/minute"), "other") is True
    assert len(sweeps) == 1
    await asyncio.sleep(1.1)  # the window passed: allowed again, and swept once more
    assert await limiter.hit(item, "user", "chat") is True
    assert len(sweeps) == 2


async def test_the_sweep_still_removes_expired_entries() -> None:
    storage = SweptMemoryStorage()
    limiter = MovingWindowRateLimiter(storage)
    assert await limiter.hit(parse("3/second"), "gone") is True
    assert storage.events
    await asyncio.sleep(1.1)
    await limiter.hit(parse("3/second"), "other")  # a hit after a second starts a sweep
    for _ in range(100):
        if not any("gone" in key for key in storage.events):
            break
        await asyncio.sleep(0.01)
    assert not any("gone" in key for key in storage.events)
