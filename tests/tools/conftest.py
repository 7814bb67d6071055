"""A tiny HTTP server on 127.0.0.1 for the http tool tests (uvicorn in a thread)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import pytest
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


async def _respond(
    send: Send,
    status: int,
    body: bytes | str,
    content_type: str = "text/plain; charset=utf-8",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    data = body.encode() if isinstance(body, str) else body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": data})


PAGE = (
    "<!DOCTYPE html><html><head><title>Agio page</title><style>p {color: red}</style>"
    "<script>var hidden = 'script text';</script></head><body><h1>Heading</h1>"
    "<p>First paragraph with <b>bold</b> text.</p><ul><li>one</li><li>two</li></ul>"
    "</body></html>"
)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Routes: /hello, /echo, /json, /text, /big, /slow, /status/<code>, /redirect?to=&status=,
    /page (HTML), /big-page (HTML of 2 MB), /image (PNG), /untyped-html, /missing-page."""
    assert scope["type"] == "http"
    path: str = scope["path"]
    query = {key: values[0] for key, values in parse_qs(scope["query_string"].decode()).items()}
    headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
    body = await _read_body(receive)
    if path == "/hello":
        await _respond(send, 200, "hello world", headers=[(b"set-cookie", b"session=secret")])
    elif path == "/echo":
        echoed = {
            "method": scope["method"],
            "host": headers.get("host"),
            "content_type": headers.get("content-type"),
            "authorization": headers.get("authorization"),
            "body": body.decode(),
        }
        await _respond(send, 200, json.dumps(echoed), "application/json")
    elif path == "/text":
        await _respond(send, 200, "plain answer")
    elif path == "/big":
        await _respond(send, 200, b"a" * 2_000_000)
    elif path == "/slow":
        await asyncio.sleep(1.0)
        await _respond(send, 200, "late")
    elif path.startswith("/status/"):
        code = int(path.rsplit("/", 1)[1])
        await _respond(send, code, "boom: something went wrong " + "x" * 1000)
    elif path == "/page":
        await _respond(send, 200, PAGE, "text/html; charset=utf-8")
    elif path == "/big-page":
        paragraphs = "".join(f"<p>paragraph {n}</p>" for n in range(100_000))
        await _respond(send, 200, f"<html><body>{paragraphs}</body></html>", "text/html")
    elif path == "/image":
        await _respond(send, 200, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png")
    elif path == "/untyped-html":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": PAGE.encode()})
    elif path == "/missing-page":
        await _respond(send, 404, "<html><body><h1>Not here</h1></body></html>", "text/html")
    elif path == "/redirect":
        status = int(query.get("status", "302"))
        location = query["to"].encode()
        await _respond(send, status, "", headers=[(b"location", location)])
    else:
        await _respond(send, 404, "not found")


@dataclass(frozen=True)
class LocalServer:
    port: int

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalServer]:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        loop="asyncio",
        http="h11",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test HTTP server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LocalServer(port=port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
