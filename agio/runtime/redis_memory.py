"""Session histories in Redis, for memory components with `backend: redis`.

The database keeps every session's messages (the sessions API reads them there); Redis
keeps a copy that runs read instead, shared by every process: a list of JSON messages per
session, `<prefix>:memory:<session id>`, expiring `ttl_seconds` after its last use. A
missing list (expired, or Redis restarted) is filled again from the database on the next
read; a completed run appends its messages only to a list that exists (`RPUSHX`), so the
copy is never a partial one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis


class RedisMemoryStore:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self._prefix = prefix

    def key(self, session_id: str) -> str:
        return f"{self._prefix}:memory:{session_id}"

    async def read(self, session_id: str, ttl: int) -> list[dict[str, Any]] | None:
        """The session's messages, or None when Redis has no copy."""
        key = self.key(session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.expire(key, ttl)
            raw, _ = await pipe.execute()
        if not raw:
            return None
        return [json.loads(item) for item in raw]

    async def fill(self, session_id: str, messages: Sequence[dict[str, Any]], ttl: int) -> None:
        key = self.key(session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if messages:
                pipe.rpush(key, *(json.dumps(m, separators=(",", ":")) for m in messages))
                pipe.expire(key, ttl)
            await pipe.execute()

    async def append(self, session_id: str, messages: Sequence[dict[str, Any]], ttl: int) -> None:
        if not messages:
            return
        key = self.key(session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpushx(key, *(json.dumps(m, separators=(",", ":")) for m in messages))
            pipe.expire(key, ttl)
            await pipe.execute()

    async def forget(self, session_id: str) -> None:
        await self._redis.delete(self.key(session_id))

    async def close(self) -> None:
        await self._redis.aclose()
