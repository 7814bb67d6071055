"""Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama, vLLM,
llama.cpp server, LM Studio, …), for knowledge components that name an `embedding` model.

Texts go in batches of `batch_size` (one request each) over the caller's shared
`httpx.AsyncClient`; a batch is retried on 408, 429, 5xx, timeouts and connection errors
(`max_retries` of the component, backoff with jitter, a server's `Retry-After` honoured).
Vectors come back normalised to unit length, so that a dot product is their cosine.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import Sequence

import httpx
import orjson

from agio.config.components import ModelComponent
from agio.models.asyncio_transport import AsyncioTransport
from agio.models.openai_provider import (
    DEFAULT_BASE_URL,
    PLACEHOLDER_API_KEY,
    environment_proxies,
)
from agio.models.openai_wire import error_body_message, retry_after

_RETRYABLE = frozenset({408, 429})


class EmbeddingFailed(Exception):
    """The endpoint did not return one vector per text; the message never holds the key."""


def shared_client() -> httpx.AsyncClient:
    """The one HTTP client of a process's embedding calls (each request sets its own
    headers and timeout): the model transport's pool, or httpx's own where the
    environment names a proxy."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
    transport = None if environment_proxies() else AsyncioTransport(limits=limits)
    return httpx.AsyncClient(limits=limits, follow_redirects=True, transport=transport)


def fingerprint(component: ModelComponent) -> str:
    """What the vectors of `component` depend on (its endpoint and model, not its key):
    vectors stored with another fingerprint are stale and embedded again."""
    base_url = (component.base_url or DEFAULT_BASE_URL).rstrip("/")
    identity = orjson.dumps([component.provider, base_url, component.model])
    return hashlib.sha256(identity).hexdigest()


def normalised(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0 or not math.isfinite(norm):
        raise EmbeddingFailed("the endpoint returned a zero or non-finite vector")
    return [x / norm for x in vector]


class OpenAIEmbeddings:
    """The `/embeddings` client of one model component."""

    def __init__(
        self,
        component: ModelComponent,
        client: httpx.AsyncClient,
        *,
        batch_size: int = 64,
        base_delay: float = 0.5,
        max_delay: float = 10.0,
    ) -> None:
        if component.provider != "openai":
            raise ValueError(
                f"model '{component.name}' has provider '{component.provider}'; an embedding "
                "model needs provider 'openai' (an OpenAI-compatible /v1/embeddings)"
            )
        self.name = component.name
        self.fingerprint = fingerprint(component)
        self._component = component
        self._client = client
        self._batch_size = batch_size
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._api_key = component.api_key.get_secret_value() if component.api_key else None
        base_url = (component.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._url = httpx.URL(f"{base_url}/embeddings")
        self._headers = {
            "Authorization": f"Bearer {self._api_key or PLACEHOLDER_API_KEY}",
            "Content-Type": "application/json",
        }
        self._timeout = httpx.Timeout(component.timeout)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, in order."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(await self._batch(list(texts[start : start + self._batch_size])))
        return vectors

    async def _batch(self, texts: list[str]) -> list[list[float]]:
        body = orjson.dumps({"model": self._component.model, "input": texts})
        attempts = self._component.max_retries + 1
        for attempt in range(1, attempts + 1):
            wait: float | None = None
            try:
                response = await self._client.post(
                    self._url, content=body, headers=self._headers, timeout=self._timeout
                )
            except httpx.TimeoutException:
                problem = f"no response within {self._component.timeout:g} s"
            except httpx.RequestError as exc:
                problem = f"cannot reach the server: {type(exc).__name__}"
            else:
                status = response.status_code
                if status == 200:
                    return self._vectors(response.content, len(texts))
                message = error_body_message(response.content, fallback=f"HTTP {status}")
                problem = f"HTTP {status}: {message}"
                if status not in _RETRYABLE and status < 500:
                    raise EmbeddingFailed(self._clean(problem))
                wait = retry_after(response.headers)
            if attempt == attempts:
                suffix = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
                raise EmbeddingFailed(self._clean(problem + suffix))
            await asyncio.sleep(self._delay(attempt, wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def _vectors(self, content: bytes, count: int) -> list[list[float]]:
        try:
            data = orjson.loads(content)["data"]
            ordered = sorted(data, key=lambda item: int(item["index"]))
            vectors = [[float(x) for x in item["embedding"]] for item in ordered]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise EmbeddingFailed(
                f"{self._label()}: the answer is not an embeddings list ({type(exc).__name__})"
            ) from None
        if len(vectors) != count or any(len(v) != len(vectors[0]) for v in vectors):
            raise EmbeddingFailed(
                f"{self._label()}: {count} texts sent, {len(vectors)} vectors back "
                "(or of different lengths)"
            )
        if not vectors[0]:
            raise EmbeddingFailed(f"{self._label()}: the vectors are empty")
        return [normalised(v) for v in vectors]

    def _clean(self, problem: str) -> str:
        message = f"{self._label()}: {problem}"
        if self._api_key and len(self._api_key) >= 4:
            message = message.replace(self._api_key, "***")
        return message

    def _label(self) -> str:
        return f"embedding model {self._component.model!r}"

    def _delay(self, attempt: int, wait: float | None) -> float:
        if wait is not None:
            return min(max(wait, 0.0), self._max_delay)
        ceiling = min(self._base_delay * 2.0 ** (attempt - 1), self._max_delay)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (not cryptographic)
