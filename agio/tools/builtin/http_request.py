"""The `http_request` tool: GET or POST a URL the model chooses, through the SSRF guard.

Letting a model fetch URLs from the server is a risk an operator has to accept, so
the tool is off unless enabled (`AGIO_ENABLE_HTTP_REQUEST_TOOL=true`). Even then it only
reaches public addresses (see `agio.tools.ssrf`), and responses are bounded in size.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from agio.tools.base import ToolError
from agio.tools.function import json_schema, parse_arguments
from agio.tools.ssrf import GuardPolicy, guarded_request

ENABLE_VARIABLE = "AGIO_ENABLE_HTTP_REQUEST_TOOL"
DEFAULT_MAX_RESPONSE_BYTES = 1_000_000
MAX_REQUEST_BYTES = 1_000_000
USER_AGENT = "agio-http-request/0.1"
# Response headers worth showing a model; the rest (cookies, …) stay out of its context.
SAFE_RESPONSE_HEADERS = (
    "content-type",
    "content-language",
    "last-modified",
    "etag",
    "date",
    "cache-control",
    "location",
)

DEFAULT_DESCRIPTION = (
    "Fetch a public http(s) URL with GET, or send it a POST with a text or JSON body. "
    "Returns the status, a few headers and the body as text (long bodies are truncated)."
)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class HttpRequestOptions(BaseModel):
    """`options` of an `http_request` tool component."""

    model_config = ConfigDict(extra="forbid")

    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1, le=10_000_000)


class HttpRequestArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        str, Field(min_length=1, max_length=2048, description="An http:// or https:// URL.")
    ]
    method: Annotated[
        Literal["GET", "POST"], BeforeValidator(_upper), Field(description="GET or POST.")
    ] = "GET"
    body: Annotated[
        str | dict[str, Any] | list[Any] | None,
        Field(description="POST only: text is sent as text/plain, an object or array as JSON."),
    ] = None


def _encode_body(body: str | dict[str, Any] | list[Any]) -> tuple[bytes, str]:
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"


class HttpRequestTool:
    """GET/POST through the SSRF guard; refuses every call unless `enabled`."""

    def __init__(
        self,
        *,
        enabled: bool = False,
        policy: GuardPolicy | None = None,
        name: str = "http_request",
        description: str | None = None,
        timeout: float = 30.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.name = name
        self.description = description or DEFAULT_DESCRIPTION
        self.timeout = timeout
        self.parameters = json_schema(HttpRequestArguments)
        self.enabled = enabled
        self.policy = policy or GuardPolicy()
        self.max_response_bytes = max_response_bytes

    async def run(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if not self.enabled:
            raise ToolError(
                f"the {self.name} tool is disabled on this server; the operator must enable "
                f"it with {ENABLE_VARIABLE}=true"
            )
        parsed = parse_arguments(HttpRequestArguments, arguments, tool=self.name)
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        content: bytes | None = None
        if parsed.body is not None:
            if parsed.method != "POST":
                raise ToolError("a body can only be sent with method POST")
            content, content_type = _encode_body(parsed.body)
            if len(content) > MAX_REQUEST_BYTES:
                raise ToolError(f"the body is too large (at most {MAX_REQUEST_BYTES} bytes)")
            headers["Content-Type"] = content_type
        response = await guarded_request(
            parsed.method,
            parsed.url,
            policy=self.policy,
            content=content,
            headers=headers,
            time_limit=self.timeout,
            max_bytes=self.max_response_bytes,
        )
        safe_headers = {
            key: response.headers[key] for key in SAFE_RESPONSE_HEADERS if key in response.headers
        }
        return {
            "status": response.status_code,
            "url": str(response.url),
            "headers": safe_headers,
            "body": response.text(),
            "truncated": response.truncated,
        }
