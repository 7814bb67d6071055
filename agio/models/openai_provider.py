"""The `openai` provider: any OpenAI-compatible Chat Completions endpoint, streamed.

Speaks the wire protocol itself over one `httpx.AsyncClient` per model (connections are
pooled across the runs that share the model, see `ModelCache`), with the body encoded
and each `data:` line decoded by orjson (`openai_wire.py`); the official SDK is not used
here, its per-call and per-chunk work cost more CPU than the rest of a run. The request,
retries and error mapping are `StreamingHTTPModel`'s (`http_stream.py`), shared with the
`anthropic` provider; the client it builds sends through `AsyncioTransport`
(`asyncio_transport.py`: httpcore's pool on plain asyncio connections), unless the
environment names a proxy, which httpx's own transport then honours.
"""

from __future__ import annotations

import httpx

from agio.config.components import ModelComponent
from agio.models.base import ModelError, ModelEvent, ModelRequest
from agio.models.http_stream import POOL_LIMITS, StreamingHTTPModel, environment_proxies
from agio.models.openai_wire import StreamState, chunk_events, request_body

__all__ = [
    "DEFAULT_BASE_URL",
    "PLACEHOLDER_API_KEY",
    "POOL_LIMITS",
    "OpenAIModel",
    "environment_proxies",
]

PLACEHOLDER_API_KEY = "not-needed"
"""Sent when the component has no key: local servers (Ollama, vLLM) want none."""

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class _ChunkParser:
    """`chat.completion.chunk` payloads into deltas; the usage chunk at the end."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._state = StreamState()

    def feed(self, payload: bytes) -> list[ModelEvent]:
        return chunk_events(payload, self._state)

    def finish(self) -> list[ModelEvent]:
        if self._state.chunks == 0:
            raise ModelError(
                f"{self._label}: the server sent no completion chunks",
                type="ModelMalformedResponse",
            )
        return [] if self._state.usage is None else [self._state.usage]


class OpenAIModel(StreamingHTTPModel):
    """A `Model` backed by an OpenAI-compatible `/chat/completions` endpoint (see
    `StreamingHTTPModel` for `client`, `base_delay` and `max_delay`)."""

    def __init__(
        self,
        component: ModelComponent,
        *,
        client: httpx.AsyncClient | None = None,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        super().__init__(component, client=client, base_delay=base_delay, max_delay=max_delay)
        base_url = (component.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._url = httpx.URL(f"{base_url}/chat/completions")  # parsed once, not per call
        self._headers = {
            "Authorization": f"Bearer {self._api_key or PLACEHOLDER_API_KEY}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }

    def request_bytes(self, request: ModelRequest) -> bytes:
        return request_body(self._component, request)

    def parser(self) -> _ChunkParser:
        return _ChunkParser(self._label())
