"""`http` tools: the arguments are POSTed as JSON to an endpoint the operator configured.

The URL comes from configuration, not from a model, so there is no SSRF guard; redirects
are not followed either, so the request cannot end up somewhere else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from agio.tools.base import ToolError

USER_AGENT = "agio-http-tool/0.1"
MAX_RESPONSE_BYTES = 5_000_000
EXCERPT_CHARS = 300
DEFAULT_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


class HttpTool:
    """Calls `url` with the arguments object as JSON; the JSON (or text) reply is the result."""

    def __init__(
        self,
        *,
        name: str,
        url: str,
        description: str = "",
        headers: Mapping[str, str] | None = None,
        parameters: dict[str, Any] | None = None,
        timeout: float = 30.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        try:
            scheme = httpx.URL(url).scheme
        except httpx.InvalidURL as exc:
            raise ValueError(f"invalid URL for an http tool: {exc}") from None
        if scheme not in ("http", "https"):
            raise ValueError(f"an http tool needs an http:// or https:// URL, not {scheme!r}")
        self.name = name
        self.description = description
        self.url = url
        self.parameters = parameters if parameters is not None else dict(DEFAULT_PARAMETERS)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}

    async def run(self, arguments: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=httpx.Timeout(self.timeout)
        ) as client:
            try:
                async with client.stream(
                    "POST", self.url, json=arguments, headers=self._headers
                ) as response:
                    body = await self._read(response)
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
                raise ToolError(f"the {self.name} endpoint failed: {reason}") from None
        text = body.decode(response.encoding or "utf-8", errors="replace")
        if not response.is_success:
            excerpt = " ".join(text.split())[:EXCERPT_CHARS]
            raise ToolError(
                f"the {self.name} endpoint answered HTTP {response.status_code}: {excerpt}"
            )
        if "json" in response.headers.get("content-type", "").lower():
            try:
                return json.loads(text)
            except ValueError:
                raise ToolError(f"the {self.name} endpoint sent invalid JSON") from None
        return text

    async def _read(self, response: httpx.Response) -> bytes:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > self.max_response_bytes:
                raise ToolError(
                    f"the {self.name} endpoint's reply exceeds {self.max_response_bytes} bytes"
                )
        return bytes(body)

    def __repr__(self) -> str:
        return f"HttpTool(name={self.name!r}, url={self.url!r})"
