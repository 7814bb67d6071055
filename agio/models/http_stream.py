"""What every native HTTP provider shares: one streamed POST per attempt over the shared
`httpx` client (sent through `AsyncioTransport`), server-sent events decoded by
`SSEDecoder`, and the retry policy and error mapping.

A provider (`openai_provider.py`, `anthropic_provider.py`) says where to send what
(`url`, `headers`, `body`) and how its stream reads (`parser()`: a `StreamParser` per
attempt); this class does the rest. Transient failures (429, 408, 5xx, connection errors,
timeouts, an error the parser calls retryable) are retried with backoff, each announced
by a `Retrying` event, and only before the first delta was yielded, so that no part of an
answer is ever delivered twice.
"""

from __future__ import annotations

import abc
import asyncio
import random
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import httpx

from agio.config.components import ModelComponent
from agio.models.asyncio_transport import AsyncioTransport
from agio.models.base import ModelError, ModelEvent, ModelRequest, Retrying
from agio.models.openai_wire import (
    MalformedStream,
    SSEDecoder,
    StreamErrorObject,
    error_body_message,
    retry_after,
)

# as many connections as the SDK's client allowed: runs sharing a model stream at once
POOL_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)


class StreamParser(Protocol):
    """One attempt's reading of the stream: each SSE `data` payload in, deltas out."""

    def feed(self, payload: bytes) -> list[ModelEvent]:
        """The deltas of one payload; raises `MalformedStream` or `StreamErrorObject`."""
        ...

    def finish(self) -> list[ModelEvent]:
        """What the complete stream adds at its end (usage); raises `ModelError` for a
        stream that ended without an answer."""
        ...


@dataclass(frozen=True)
class _Failure:
    """Why an attempt failed, and whether (and when) it may be tried again."""

    message: str
    type: str = "ModelError"
    retryable: bool = False
    retry_after: float | None = None

    def error(self, attempts: int) -> ModelError:
        message = self.message
        if self.retryable and attempts > 1:
            message += f" (gave up after {attempts} attempts)"
        return ModelError(message, type=self.type, retryable=self.retryable)


class _StatusError(Exception):
    """The server answered with an HTTP error status (its body already read)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class StreamingHTTPModel(abc.ABC):
    """A `Model` that streams one HTTP request per attempt. Subclasses set `_url` and
    `_headers` in their `__init__` and implement `request_bytes` and `parser`.

    `client` replaces the `httpx.AsyncClient` built from the component (tests, shared
    pools); requests carry their own headers and timeout, so any client will do.
    `base_delay` is the first retry's backoff (doubled each retry, with jitter) and
    `max_delay` caps every wait, a server's `Retry-After` included.
    """

    _url: httpx.URL
    _headers: dict[str, str]

    def __init__(
        self,
        component: ModelComponent,
        *,
        client: httpx.AsyncClient | None = None,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        self.name = component.name
        self.model = component.model
        self._component = component
        self._api_key = component.api_key.get_secret_value() if component.api_key else None
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timeout = httpx.Timeout(component.timeout)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=self._timeout,
            limits=POOL_LIMITS,
            follow_redirects=True,
            transport=None if environment_proxies() else AsyncioTransport(limits=POOL_LIMITS),
        )

    # ------------------------------------------------------------------ the provider's part

    @abc.abstractmethod
    def request_bytes(self, request: ModelRequest) -> bytes:
        """The request body (built once per call, reused by its retries); raises
        `TypeError` for a value JSON cannot hold."""

    @abc.abstractmethod
    def parser(self) -> StreamParser:
        """A fresh reader of one attempt's stream."""

    # ------------------------------------------------------------------ the call

    async def aclose(self) -> None:
        """Release the HTTP connections, unless the client was passed in by the caller."""
        if self._owns_client:
            await self._client.aclose()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Yield text and tool-call deltas as they arrive, then `Usage` when reported.

        Transient failures are retried with backoff, each announced by a `Retrying`
        event, until the first delta is out; everything else, and anything after the
        first delta, raises `ModelError`.
        """
        try:
            body = self.request_bytes(request)
        except TypeError as exc:
            raise ModelError(
                f"{self._label()}: the request cannot be encoded as JSON ({exc})",
                type="ModelBadRequest",
            ) from exc
        attempt = 0
        while True:
            parser = self.parser()
            delivered = False
            try:
                async with self._client.stream(
                    "POST", self._url, content=body, headers=self._headers, timeout=self._timeout
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        raise _StatusError(response)
                    decoder = SSEDecoder()
                    async for data in _body(response):
                        for payload in decoder.feed(data):
                            for event in parser.feed(payload):
                                delivered = True
                                yield event
                    for payload in decoder.close():
                        for event in parser.feed(payload):
                            delivered = True
                            yield event
            except MalformedStream as exc:
                raise self._failure(
                    f"{self._label()}: malformed response from the server ({exc})",
                    type="ModelMalformedResponse",
                ).error(1) from exc
            except (_StatusError, StreamErrorObject, httpx.RequestError) as exc:
                failure = self._classify(exc, delivered=delivered)
                attempt += 1
                if not failure.retryable or attempt > self._component.max_retries:
                    raise failure.error(attempt) from exc
            else:
                for event in parser.finish():
                    yield event
                return
            delay = self._delay(attempt, failure.retry_after)
            yield Retrying(attempt=attempt, delay=delay, reason=failure.message)
            await asyncio.sleep(delay)

    # ------------------------------------------------------------------ errors

    def _classify(
        self, exc: _StatusError | StreamErrorObject | httpx.RequestError, *, delivered: bool
    ) -> _Failure:
        """Why an attempt failed, without the API key in the message."""
        label = self._label()
        if delivered:
            return self._failure(
                f"{label}: the stream broke off after it started: {_describe(exc)}",
                type="ModelStreamError",
            )
        if isinstance(exc, _StatusError):
            return self._status_failure(exc.response, label)
        if isinstance(exc, StreamErrorObject):
            return self._failure(
                f"{label}: the server reported an error in the stream: {exc.message}",
                type=exc.type,
                retryable=exc.retryable,
            )
        if isinstance(exc, httpx.TimeoutException):
            return self._failure(
                f"{label}: no response within {self._component.timeout:g} s",
                type="ModelTimeout",
                retryable=True,
            )
        return self._failure(
            f"{label}: cannot reach the server: {_describe(exc)}",
            type="ModelUnavailable",
            retryable=True,
        )

    def _status_failure(self, response: httpx.Response, label: str) -> _Failure:
        status = response.status_code
        message = f"{label}: HTTP {status}: {_status_message(response)}"
        if status == 429:
            kind, retryable = "ModelRateLimited", True
        elif status == 408:
            kind, retryable = "ModelTimeout", True
        elif status >= 500:  # Anthropic's 529 "overloaded" among them
            kind, retryable = "ModelUnavailable", True
        elif status in (401, 403):
            kind, retryable = "ModelAuthError", False
        elif 400 <= status < 500:
            kind, retryable = "ModelBadRequest", False
        else:
            kind, retryable = "ModelError", False
        wait = retry_after(response.headers) if retryable else None
        return self._failure(message, type=kind, retryable=retryable, retry_after=wait)

    def _failure(
        self,
        message: str,
        *,
        type: str,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> _Failure:
        """A failure whose message never holds the API key."""
        if self._api_key and len(self._api_key) >= 4:
            message = message.replace(self._api_key, "***")
        return _Failure(message, type=type, retryable=retryable, retry_after=retry_after)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry `attempt`: the server's wish, else backoff with jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self._max_delay)
        ceiling = min(self._base_delay * 2.0 ** (attempt - 1), self._max_delay)
        # "equal jitter": at least half the backoff, so that retries never bunch up at zero
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (not cryptographic)

    def _label(self) -> str:
        return f"model {self._component.model!r}"


def environment_proxies() -> bool:
    """Whether the environment names an HTTP proxy (`HTTPS_PROXY`, `HTTP_PROXY`,
    `ALL_PROXY`, as httpx reads them)."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def _body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body as it arrives: the raw bytes, unless the server compressed them."""
    if "content-encoding" in response.headers:
        return response.aiter_bytes()
    return response.aiter_raw()


def _status_message(response: httpx.Response) -> str:
    fallback = response.reason_phrase or f"HTTP {response.status_code}"
    return error_body_message(response.content, fallback=fallback)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _StatusError):
        return f"HTTP {exc.response.status_code}: {_status_message(exc.response)}"
    if isinstance(exc, StreamErrorObject):
        return exc.message
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause):
        text = f"{text} ({type(cause).__name__}: {cause})"
    return text
