"""A raw HTTP/1.1 server on 127.0.0.1, in the test's own event loop, for the HTTP transport's
tests: it counts connections and hang-ups, records each request, and answers as the test
says (a chunked body, nothing, half a body, a reset), over TLS when given a context.

    async with LoopbackServer(sse([b"data: 1\\n\\n"])) as server:
        ...  # requests to server.url("/v1/chat/completions")
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType


@dataclass
class Received:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int


Answer = Callable[[Received, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]
"""Writes the response; True keeps the connection open for the next request."""


async def _until_hangup(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        continue


@dataclass
class LoopbackServer:
    answer: Answer | None
    """None: read what arrives, never write (nor speak TLS when `tls` is None)."""
    tls: ssl.SSLContext | None = None
    deaf: bool = False
    """True: accept connections and never read from them (a client's writes pile up)."""
    connections: int = 0
    hangups: int = 0
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _open: dict[asyncio.Task[None], asyncio.StreamWriter] = field(default_factory=dict)

    def url(self, path: str = "/") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> LoopbackServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop listening, cut the connections still open, and wait for their handlers."""
        self._stopped.set()
        assert self._server is not None
        self._server.close()
        handlers = list(self._open)
        for writer in self._open.values():
            writer.transport.abort()
        await asyncio.gather(*handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def wait_for_hangups(self, count: int) -> None:
        """Until `count` connections have ended (the test's timeout bounds the wait)."""
        while self.hangups < count:
            await asyncio.sleep(0.005)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._open[handler] = writer
        try:
            if self.deaf:
                await self._stopped.wait()
                return
            if self.answer is None:
                await _until_hangup(reader)
                return
            while True:
                request = await _read_request(reader, number)
                if request is None:
                    return
                self.requests.append(request)
                if not await self.answer(request, reader, writer):
                    return
        except (ConnectionError, ssl.SSLError):
            return
        finally:
            del self._open[handler]
            self.hangups += 1
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader, connection: int) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client hung up between requests
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(method, target, headers, body, connection)


# ---------------------------------------------------------------------- answers

_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def sse(parts: list[bytes], *, keep_open: bool = True, header: bytes = b"") -> Answer:
    """A chunked 200 response, one chunk per part, with one more `header` line if given;
    `keep_open=False` hangs up after it (no `Connection: close`: the client learns it
    only from the closed connection)."""

    async def answer(
        request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(_HEAD + (header + b"\r\n" if header else b"") + b"\r\n")
        for part in parts:
            writer.write(_chunk(part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep_open

    return answer


def body_size() -> Answer:
    """A 200 response whose body is the size of the request's body, in decimal."""

    async def answer(
        request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        text = str(len(request.body)).encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(text), text))
        await writer.drain()
        return True

    return answer


def sized_body(size: int) -> Answer:
    """A 200 response of `size` bytes, written at once."""

    async def answer(
        request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        writer.write(b"y" * size)
        await writer.drain()
        return True

    return answer


def silence() -> Answer:
    """Read the request, never answer (until the client hangs up)."""

    async def answer(
        request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        await _until_hangup(reader)
        return False

    return answer


def half_a_body(*, reset: bool = False) -> Answer:
    """The head and one chunk, then the connection ends: closed, or reset (RST)."""

    async def answer(
        request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(_HEAD + b"\r\n" + _chunk(b"data: 1\n\n"))
        await writer.drain()
        if reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        return False

    return answer
