"""The `anthropic` provider: Anthropic's Messages API (`POST {base_url}/v1/messages`),
streamed, native (not through an OpenAI-compatible shim).

The wire format is ours (`anthropic_wire.py`, orjson both ways, no SDK); the request,
its retries before the first token and the mapping of errors are `StreamingHTTPModel`'s
(`http_stream.py`), the same as the `openai` provider's. The component's `api_key` goes
in the `x-api-key` header, never in a message.
"""

from __future__ import annotations

import httpx

from agio.config.components import ModelComponent
from agio.models.anthropic_wire import MessageStreamParser, request_body
from agio.models.base import ModelRequest
from agio.models.http_stream import StreamingHTTPModel

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
"""The `anthropic-version` header: the version of the Messages API spoken here."""


def messages_url(base_url: str | None) -> str:
    """`{base_url}/v1/messages`; a base URL that already ends in `/v1` is taken as is."""
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    if base.endswith("/v1"):
        base = base[:-3]
    return f"{base}/v1/messages"


class AnthropicModel(StreamingHTTPModel):
    """A `Model` backed by the Messages API (see `StreamingHTTPModel` for `client`,
    `base_delay` and `max_delay`)."""

    def __init__(
        self,
        component: ModelComponent,
        *,
        client: httpx.AsyncClient | None = None,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        super().__init__(component, client=client, base_delay=base_delay, max_delay=max_delay)
        self._url = httpx.URL(messages_url(component.base_url))
        self._headers = {
            "anthropic-version": API_VERSION,
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        if self._api_key:
            self._headers["x-api-key"] = self._api_key

    def request_bytes(self, request: ModelRequest) -> bytes:
        return request_body(self._component, request)

    def parser(self) -> MessageStreamParser:
        return MessageStreamParser(self._label())
