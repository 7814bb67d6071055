"""Text that a database cannot store is refused at the edge, on every input, with a 422.

PostgreSQL stores no NUL character (U+0000) in text or JSON, and no database stores a
lone UTF-16 surrogate (U+D800-U+DFFF, which JSON can write as `\\ud800`). SQLite would
take a NUL; the rule is the same on both, so that an API does not depend on its
database. One pure ASGI middleware applies it to the path, the query string, header
values and the body (JSON, `application/x-www-form-urlencoded` and the text fields of
`multipart/form-data`; file parts are bytes and are not text), before any route runs.

Cheap on the hot path: a JSON body is decoded only when its bytes hold a `\\u` escape
that could be one of these characters (a raw one is invalid JSON, refused anyway).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agio.api.errors import envelope

#: a character no database stores as text
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: a JSON escape that may decode to one (a false alarm costs one decode, nothing more)
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_MESSAGE = "text a database cannot store (a NUL character or an unpaired UTF-16 surrogate)"


def unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def _walk(value: Any) -> Iterator[list[Any]]:
    """The location of every unstorable string (keys too) in a decoded JSON value; no
    recursion, so that any depth the decoder accepts is walked."""
    stack: list[tuple[Any, list[Any]]] = [(value, ["body"])]
    while stack:
        item, loc = stack.pop()
        if isinstance(item, str):
            if unstorable(item):
                yield loc
        elif isinstance(item, dict):
            for key, child in item.items():
                if unstorable(key):
                    yield [*loc, key.encode("utf-8", "backslashreplace").decode()]
                else:
                    stack.append((child, [*loc, key]))
        elif isinstance(item, list):
            stack.extend((child, [*loc, index]) for index, child in enumerate(item))


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            text: str = value.decode("latin-1")
            return text.split(";", 1)[0].strip().lower()
    return ""


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


class StorableTextMiddleware:
    """422 `ValidationError` for a request holding text a database cannot store; every
    other request passes through untouched (its body replayed as it came)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self._in_head(scope)
        media_type = _media_type(scope)
        if not found and (_is_json(media_type) or media_type in _FORM_TYPES):
            try:
                body, receive = await _buffered(receive)
            except HTTPException as exc:  # the body limit (413), raised by `receive`
                too_large = exc.status_code == 413
                response = envelope(
                    scope,
                    exc.status_code,
                    "PayloadTooLarge" if too_large else "BadRequest",
                    str(exc.detail),
                )
                await response(scope, receive, send)
                return
            if _is_json(media_type):
                found = _in_json(body)
            else:
                found = await _in_form(scope, body)
        if found:
            details = [
                {"loc": loc, "msg": f"Contains {_MESSAGE}", "type": "unstorable_text"}
                for loc in found
            ]
            where = ", ".join(".".join(str(p) for p in loc) for loc in found[:5])
            response = envelope(
                scope, 422, "ValidationError", f"Invalid request: {where}: {_MESSAGE}", details
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _in_head(scope: Scope) -> list[list[Any]]:
        found: list[list[Any]] = []
        if unstorable(scope.get("path", "")):
            found.append(["path"])
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if unstorable(name) or unstorable(value):
                    found.append(["query", name.replace("\x00", "\\u0000")])
        for name, value in scope.get("headers", []):
            if b"\x00" in value:
                found.append(["header", name.decode("latin-1")])
        return found


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a `receive` that hands it over once more and then passes
    through (so that a streaming response still hears the client disconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # the client went away before sending it all: let the app hear that
            return b"".join(chunks), _repeating(message)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _repeating(message: Message) -> Receive:
    async def again() -> Message:
        return message

    return again


def _in_json(body: bytes) -> list[list[Any]]:
    # a NUL byte: JSON in UTF-16 or UTF-32 (which the decoder accepts), or a raw NUL
    if not _SUSPECT_ESCAPE.search(body) and b"\x00" not in body:
        return []
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not JSON (or nested too deep for it): the route's own parsing says so
    return sorted(_walk(value), key=str)


async def _in_form(scope: Scope, body: bytes) -> list[list[Any]]:
    if b"\x00" not in body and b"%00" not in body and b"\xed" not in body:
        return []
    sent = False

    async def once() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request(scope, once)
    try:
        form = await request.form()
    except Exception:
        return []  # malformed: the route's own parsing refuses it
    found: list[list[Any]] = []
    try:
        for name, value in form.multi_items():
            text = (value.filename or "") if isinstance(value, UploadFile) else value
            if unstorable(name) or unstorable(text):
                found.append(["body", name.replace("\x00", "\\u0000")])
    finally:
        await form.close()
    return found
