"""Session history: the earlier messages of a session that go to the model with a new run,
picked by the agent's memory component (`agio.runtime.memory`: buffer, token window,
summary) and read from the database or from its copy in Redis (`RedisMemoryStore`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from agio.config.components import MemoryComponent, ModelComponent
from agio.domain.messages import Message
from agio.models.base import ModelRequest, TextDelta
from agio.runtime.memory import (
    buffer_window,
    split_for_summary,
    summary_message,
    summary_request,
    token_window,
)
from agio.runtime.redis_memory import RedisMemoryStore
from agio.runtime.snapshot import AgentSnapshot, ModelCache, with_secrets
from agio.storage.components import ComponentRepository
from agio.storage.runs import RunRepository

log = structlog.get_logger(__name__)

#: stores a completed run's new messages in a memory kept outside the database
MemoryCopy = Callable[[str, list[dict[str, Any]]], Awaitable[None]]


class SessionHistory:
    def __init__(
        self,
        components: ComponentRepository,
        runs: RunRepository,
        models: ModelCache,
        *,
        default_messages: int,
        redis_memory: RedisMemoryStore | None = None,
    ) -> None:
        self.components = components
        self.runs = runs
        self.models = models
        self.default_messages = default_messages
        self.redis_memory = redis_memory

    async def messages_for(self, session_id: str, snapshot: AgentSnapshot) -> list[Message]:
        """The earlier messages of the session that go to the model, by the agent's memory
        strategy, read from its backend."""
        memory = snapshot.memory
        limit = memory.max_messages if memory else self.default_messages
        stored = await self._stored(session_id, memory)
        if memory is None or memory.strategy == "buffer":
            return buffer_window(stored, limit)
        if memory.strategy == "token_window":
            return token_window(stored, memory.max_tokens, limit)
        older, recent = split_for_summary(stored, limit)
        summary, upto = await self.runs.session_summary(session_id)
        if len(older) > upto:
            try:
                summary = await self._summarise(snapshot, memory, summary, older[upto:])
                await self.runs.save_summary(session_id, summary, len(older))
            except Exception as exc:  # the conversation goes on with the summary it had
                log.warning("memory_summary_failed", error_type=type(exc).__name__)
        return ([summary_message(summary)] if summary else []) + recent

    def copy_for(self, snapshot: AgentSnapshot) -> MemoryCopy | None:
        """Where a completed run of this agent also stores its new messages (the Redis copy
        of a `backend: redis` memory), or None."""
        memory, store = snapshot.memory, self.redis_memory
        if memory is None or memory.backend != "redis" or store is None:
            return None
        ttl = memory.ttl_seconds

        async def append(session_id: str, messages: list[dict[str, Any]]) -> None:
            await store.append(session_id, messages, ttl)

        return append

    async def forget(self, session_id: str) -> None:
        """A deleted session's copy in Redis goes too."""
        if self.redis_memory is not None:
            await self.redis_memory.forget(session_id)

    async def _stored(self, session_id: str, memory: MemoryComponent | None) -> list[Message]:
        store = self.redis_memory
        if memory is not None and memory.backend == "redis" and store is not None:
            try:
                cached = await store.read(session_id, memory.ttl_seconds)
                if cached is None:
                    cached = await self.runs.session_messages(session_id)
                    await store.fill(session_id, cached, memory.ttl_seconds)
                return [Message.model_validate(m) for m in cached]
            except Exception as exc:  # Redis trouble: the database has the history too
                log.warning("memory_redis_failed", error_type=type(exc).__name__)
        return [Message.model_validate(m) for m in await self.runs.session_messages(session_id)]

    async def _summarise(
        self,
        snapshot: AgentSnapshot,
        memory: MemoryComponent,
        previous: str | None,
        messages: list[Message],
    ) -> str:
        component = snapshot.model
        if memory.summary_model:
            stored = await self.components.get(memory.summary_model, "model")
            if stored is None:
                raise LookupError(f"summary model '{memory.summary_model}' is gone")
            component = ModelComponent.model_validate(stored.config)
        model = await self.models.get(await with_secrets(self.components, component, "model"))
        request = ModelRequest(
            messages=summary_request(previous, messages), tools=[], temperature=0.0
        )
        parts = [
            item.content async for item in model.stream(request) if isinstance(item, TextDelta)
        ]
        text = "".join(parts).strip()
        if not text:
            raise ValueError("the summary model returned no text")
        return text
