"""An `httpx` transport whose connections are plain asyncio transports, not anyio streams.

`AsyncioTransport` is `httpx.AsyncHTTPTransport` without proxies: an
`httpcore.AsyncConnectionPool` (pooling, keep-alive expiry, HTTP/1.1, TLS by
`start_tls`), with httpcore's errors turned into httpx's. Only the network layer under
the pool differs: `AsyncioBackend` opens each connection with `loop.create_connection`
and `AsyncioStream` reads and writes it through a small `asyncio.Protocol`. httpcore's
own backend wraps every read and write in anyio (a cancel scope, a deadline, a checkpoint,
an exception map) and asks the socket whether a pooled connection is still open with a
`poll` system call per request; here a read is a future with a timer, the protocol
already knows whether the server hung up (the loop has seen its FIN), and a request's
head and body go out in one `send`.
What that saves is measured by `bench/provider_cpu.py` (docs/benchmarks.md).

Connection attempts over several addresses race with a 250 ms stagger (happy eyeballs)
on the standard event loop, as anyio does; uvloop's `create_connection` has no such
option and tries the addresses one after another.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, cast

import httpcore
import httpx

HAPPY_EYEBALLS_DELAY = 0.25
"""Seconds before the next address is tried while a connection attempt is still open."""

SEND_AT = 64 * 1024
"""Written bytes are held back until the stream is read (a request's head and body leave
together) or until this many are waiting; then they go out and a write waits for the
connection to take them, within the write timeout."""

PAUSE_READING_AT = 256 * 1024
"""Received bytes nobody has read yet, beyond which the connection stops reading."""

_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}


def _as_httpx_error(exc: Exception) -> httpx.TransportError | None:
    """httpx's counterpart of an httpcore error, the most specific one (as httpx maps)."""
    for kind in type(exc).__mro__:
        mapped = _ERRORS.get(kind)
        if mapped is not None:
            return mapped(str(exc))
    return None


class AsyncioTransport(httpx.AsyncBaseTransport):
    """Pooled HTTP/1.1 over `AsyncioBackend`: what `httpx.AsyncHTTPTransport(limits=...)`
    does for a direct connection. `ssl_context` defaults to httpx's (certifi, or
    `SSL_CERT_FILE` / `SSL_CERT_DIR`)."""

    def __init__(self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except Exception as exc:
            error = _as_httpx_error(exc)
            if error is None:
                raise
            raise error from exc
        assert not isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    """A response body from the pool, its errors as httpx's."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            error = _as_httpx_error(exc)
            if error is None:
                raise
            raise error from exc

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


# ---------------------------------------------------------------------- the network


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP connections for httpcore, opened by the running loop's `create_connection`."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                if isinstance(loop, asyncio.BaseEventLoop):
                    transport, connection = await loop.create_connection(
                        _Connection,
                        host,
                        port,
                        local_addr=local,
                        happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                    )
                else:
                    transport, connection = await loop.create_connection(
                        _Connection, host, port, local_addr=local
                    )
        except TimeoutError as exc:  # before OSError: a TimeoutError is an OSError
            raise httpcore.ConnectTimeout(str(exc) or "timed out while connecting") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _Connection(asyncio.Protocol):
    """What has arrived on one connection and not been read yet, and whether more can."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport
        self.received: list[bytes] = []
        self.buffered = 0
        self.closed = False
        self.error: BaseException | None = None
        self.reading_paused = False
        self.writing_paused = False
        self._reader: asyncio.Future[bool] | None = None
        self._writer: asyncio.Future[bool] | None = None

    # -------------------------------------------------------------- asyncio's calls

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not `asyncio.Transport` subclasses, but behave as one
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received.append(data)
        self.buffered += len(data)
        if self.buffered > PAUSE_READING_AT and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        _wake(self._reader)

    def eof_received(self) -> None:
        self.closed = True
        _wake(self._reader)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        _wake(self._reader)
        _wake(self._writer)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        _wake(self._writer)

    # -------------------------------------------------------------- the stream's

    def take(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` of what has arrived (there is something)."""
        data = self.received[0]
        if len(data) <= max_bytes:
            del self.received[0]
        else:
            self.received[0] = data[max_bytes:]
            data = data[:max_bytes]
        self.buffered -= len(data)
        if self.reading_paused and self.buffered <= PAUSE_READING_AT // 2 and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()
        return data

    async def readable(self, limit: float | None) -> bool:
        """Wait until something arrives or the connection ends; False on timeout."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._reader = waiter
        timer = None if limit is None else loop.call_later(limit, _expire, waiter)
        try:
            return await waiter
        finally:
            self._reader = None
            if timer is not None:
                timer.cancel()

    async def writable(self, limit: float | None) -> bool:
        """Wait until the transport takes more (or the connection ends); False on timeout."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._writer = waiter
        timer = None if limit is None else loop.call_later(limit, _expire, waiter)
        try:
            return await waiter
        finally:
            self._writer = None
            if timer is not None:
                timer.cancel()


def _wake(waiter: asyncio.Future[bool] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(True)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection as httpcore reads and writes it, with its timeouts."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self._unsent: list[bytes] = []
        self._unsent_size = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        connection = self._connection
        if self._unsent:
            self._send()
        if not connection.received:
            if not connection.closed and not await connection.readable(timeout):
                raise httpcore.ReadTimeout("timed out while reading")
            if not connection.received:
                if connection.error is not None:
                    raise httpcore.ReadError(str(connection.error)) from connection.error
                return b""
        return connection.take(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not buffer:
            return
        connection = self._connection
        if connection.closed or connection.transport.is_closing():
            raise httpcore.WriteError(str(connection.error or "the connection is closed"))
        self._unsent.append(buffer)
        self._unsent_size += len(buffer)
        if self._unsent_size < SEND_AT:
            return
        self._send()
        while connection.writing_paused and not connection.closed:
            if not await connection.writable(timeout):
                raise httpcore.WriteTimeout("timed out while writing")
        if connection.error is not None:
            raise httpcore.WriteError(str(connection.error)) from connection.error

    def _send(self) -> None:
        unsent = self._unsent
        data = unsent[0] if len(unsent) == 1 else b"".join(unsent)
        unsent.clear()
        self._unsent_size = 0
        transport = self._connection.transport
        if not transport.is_closing():  # else the read that follows finds the end
            transport.write(data)

    async def aclose(self) -> None:
        """Close now; bytes still held back are dropped (a request cancelled before it
        was read is never sent), bytes the transport could not send yet are too."""
        self._unsent.clear()
        self._unsent_size = 0
        transport = self._connection.transport
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        connection = self._connection
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    connection.transport, connection, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            connection.transport.abort()
            raise httpcore.ConnectTimeout(str(exc) or "timed out in the TLS handshake") from exc
        except OSError as exc:
            connection.transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        except BaseException:
            connection.transport.abort()
            raise
        if transport is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        connection.transport = transport
        return self

    def get_extra_info(self, info: str) -> Any:
        connection = self._connection
        transport = connection.transport
        if info == "is_readable":  # an idle connection that is readable has been closed
            return connection.closed or bool(connection.received) or transport.is_closing()
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        return None
