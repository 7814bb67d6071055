"""Rate limits per caller and route group, with the `limits` library.

Groups: `chat` (`POST /api/chat`), `auth` (sign-ins and failed authentications, keyed by
client address), `write` (other changes) and `read` (GETs), each from its
`AGIO_RATE_LIMIT_*` setting. Counters live in memory, or in Redis when `AGIO_REDIS_URL` is
set, so that every process and replica shares them.

A storage that fails (Redis down) lets the request through and logs the failure: an
outage of the limiter must not become an outage of the API.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from agio.config.settings import Settings
from agio.domain.errors import RateLimited

log = structlog.get_logger(__name__)

GROUPS = ("chat", "auth", "write", "read")


@dataclass(frozen=True)
class Usage:
    """What a caller has left in one group, as response headers."""

    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


class SweptMemoryStorage(MemoryStorage):
    """`limits`' in-memory storage, sweeping its expired entries at most once a second.

    The library starts a sweep after every hit (a task that hops to a worker thread once
    per key), which measured 7 % of the server's CPU per chat (docs/benchmarks.md). No
    decision depends on the sweep (a hit compares the entries' own times), so a sweep a
    second keeps the memory bounded all the same. The hook is the library's private
    `__schedule_expiry` (limits 5.x, pinned in requirements.lock); a test checks that it
    is still the one called."""

    sweep_every = 1.0
    _last_sweep = -math.inf

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < self.sweep_every:
            return
        self._last_sweep = now
        await MemoryStorage._MemoryStorage__schedule_expiry(self)  # type: ignore[attr-defined]


def _storage(settings: Settings) -> Storage:
    if not settings.redis_url:
        return SweptMemoryStorage()
    url = settings.redis_url
    if not url.startswith("async+"):
        url = f"async+{url}"
    return RedisStorage(
        url, implementation="redispy", key_prefix=f"{settings.redis_prefix}:ratelimit"
    )


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.storage = _storage(settings)
        self._limiter: RateLimiter = (
            MovingWindowRateLimiter(self.storage)
            if settings.rate_limit_strategy == "moving-window"
            else SlidingWindowCounterRateLimiter(self.storage)
        )
        configured = {
            "chat": settings.rate_limit_chat,
            "auth": settings.rate_limit_auth,
            "write": settings.rate_limit_write,
            "read": settings.rate_limit_read,
        }
        self._items: dict[str, list[RateLimitItem]] = {
            group: parse_many(value) if value else [] for group, value in configured.items()
        }

    def enabled(self, group: str) -> bool:
        return bool(self._items.get(group))

    async def hit(self, group: str, caller: str) -> Usage | None:
        """Count one request of `caller` in `group`; raise RateLimited (with `Retry-After`
        and `RateLimit-*` headers) if that is one too many. Returns the tightest usage."""
        items = self._items.get(group) or []
        tightest: Usage | None = None
        for item in items:
            try:
                allowed = await self._limiter.hit(item, group, caller)
                stats = await self._limiter.get_window_stats(item, group, caller)
            except Exception as exc:  # the limiter's storage failed: let the request in
                log.error("rate_limit_storage_failed", group=group, error=type(exc).__name__)
                return None
            reset = max(0, math.ceil(stats.reset_time - time.time()))
            usage = Usage(item.amount, max(0, stats.remaining), reset)
            if not allowed:
                headers = usage.headers()
                # at least a second: a client told 0 would come straight back
                headers["Retry-After"] = str(max(1, reset))
                raise RateLimited(
                    f"Too many requests: at most {item.amount} per "
                    f"{item.get_expiry()} seconds for {group}; retry in {max(1, reset)} s",
                    headers=headers,
                )
            if tightest is None or usage.remaining < tightest.remaining:
                tightest = usage
        return tightest

    async def reset(self) -> None:
        await self.storage.reset()

    async def close(self) -> None:
        if isinstance(self.storage, RedisStorage):
            # redis-py's async pool, closed before its event loop goes away
            bridge = getattr(self.storage, "bridge", None)
            client = getattr(bridge, "storage", None)
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()
