"""The `web_fetch` tool: GET a web page through the SSRF guard and return it as text.

HTML becomes readable text (`html-text`, the extractor knowledge uploads use); plain
text, JSON, XML and the like come as they are; images, PDFs and other binary content are
refused with a clear error. Off unless the operator enables it
(`AGIO_ENABLE_WEB_FETCH_TOOL=true`); the guard (`agio.tools.ssrf`) refuses private,
loopback and metadata addresses on every redirect hop, at the address it connects to.
"""

from __future__ import annotations

from typing import Annotated, Any

import html_text
from pydantic import BaseModel, ConfigDict, Field

from agio.tools.base import ToolError
from agio.tools.function import json_schema, parse_arguments
from agio.tools.ssrf import GuardedResponse, GuardPolicy, guarded_request

ENABLE_VARIABLE = "AGIO_ENABLE_WEB_FETCH_TOOL"
USER_AGENT = "agio-web-fetch/0.1"
DEFAULT_MAX_BYTES = 2_000_000
DEFAULT_MAX_CHARS = 100_000
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_TEXT_TYPES = (
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/x-ndjson",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/csv",
)

DEFAULT_DESCRIPTION = (
    "Fetch a public web page (http or https GET) and return its text: HTML is turned "
    "into readable text, plain text and JSON come as they are. Long pages are truncated."
)


class WebFetchOptions(BaseModel):
    """`options` of a `web_fetch` tool component."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=1,
        le=50_000_000,
        description="Most bytes downloaded; the rest of the body is not read.",
    )
    max_chars: int = Field(
        default=DEFAULT_MAX_CHARS, ge=1, le=10_000_000, description="Most characters returned."
    )


class WebFetchArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        str, Field(min_length=1, max_length=2048, description="An http:// or https:// URL.")
    ]


def media_type(response: GuardedResponse) -> str:
    value = str(response.headers.get("content-type", ""))
    return value.split(";", 1)[0].strip().lower()


def kind_of(media: str, head: bytes) -> str:
    """`html`, `text` or `binary`: how the body is read. Without a content type, the
    first bytes decide."""
    if media in _HTML_TYPES:
        return "html"
    if media.startswith("text/") or media in _TEXT_TYPES:
        return "text"
    if media.endswith(("+json", "+xml")):
        return "text"
    if media in ("", "application/octet-stream") and b"\x00" not in head[:1024]:
        start = head[:512].lstrip().lower()
        if start.startswith((b"<!doctype html", b"<html")):
            return "html"
        if media == "":
            return "text"
    return "binary"


def page_text(response: GuardedResponse, kind: str) -> str:
    text = response.text()
    if kind != "html":
        return text
    try:
        return str(html_text.extract_text(text, guess_layout=True))
    except Exception:  # lxml's ParserError on an empty document: no text
        return ""


class WebFetchTool:
    """Returns `{"url", "status", "content_type", "text", "truncated"}` (and a `note`
    when the page was cut); refuses every call unless `enabled`."""

    def __init__(
        self,
        *,
        enabled: bool = False,
        policy: GuardPolicy | None = None,
        options: WebFetchOptions | None = None,
        name: str = "web_fetch",
        description: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.description = description or DEFAULT_DESCRIPTION
        self.timeout = timeout
        self.parameters = json_schema(WebFetchArguments)
        self.enabled = enabled
        self.policy = policy or GuardPolicy()
        self.options = options or WebFetchOptions()

    async def run(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if not self.enabled:
            raise ToolError(
                f"the {self.name} tool is disabled on this server; the operator must enable "
                f"it with {ENABLE_VARIABLE}=true"
            )
        parsed = parse_arguments(WebFetchArguments, arguments, tool=self.name)
        response = await guarded_request(
            "GET",
            parsed.url,
            policy=self.policy,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
                "Accept-Encoding": "identity",
            },
            time_limit=self.timeout,
            max_bytes=self.options.max_bytes,
        )
        media = media_type(response)
        kind = kind_of(media, response.content)
        if kind == "binary":
            raise ToolError(
                f"{parsed.url} answered HTTP {response.status_code} with "
                f"{media or 'binary content'}, which {self.name} cannot read as text"
            )
        text = page_text(response, kind)
        limit = self.options.max_chars
        result: dict[str, Any] = {
            "url": str(response.url),
            "status": response.status_code,
            "content_type": media or None,
            "text": text[:limit],
            "truncated": response.truncated or len(text) > limit,
        }
        if len(text) > limit:
            result["note"] = f"the text was cut at {limit} of {len(text)} characters"
        elif response.truncated:
            result["note"] = f"only the first {self.options.max_bytes} bytes were downloaded"
        return result
