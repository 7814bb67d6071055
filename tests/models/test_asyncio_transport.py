"""`AsyncioTransport` against real servers on 127.0.0.1 (tests/models/loopback.py): streamed
bodies, pooled and dead connections, TLS with a certificate made for the test, and each
failure as the httpx error the `openai` provider maps: refused and stalled connections,
read, write and pool timeouts, bodies cut off or reset. Every scenario runs on the
standard event loop and on uvloop (the loop `agio serve` runs on)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvloop

from agio.models.asyncio_transport import PAUSE_READING_AT, SEND_AT, AsyncioTransport
from tests.models.loopback import (
    LoopbackServer,
    body_size,
    half_a_body,
    silence,
    sized_body,
    sse,
)

LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5)
EVENTS = [b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"]


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1, and its key."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail(  # the TLS tests must run wherever the suite runs, CI included
            "the TLS tests make their certificate with the `openssl` command, which is "
            "missing (Debian: apt-get install openssl)"
        )
    folder = tmp_path_factory.mktemp("tls")
    made = Certificate(folder / "cert.pem", folder / "key.pem")
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", str(made.key), "-out", str(made.cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return made


def client(ssl_context: ssl.SSLContext | None = None, **timeouts: float) -> httpx.AsyncClient:
    transport = AsyncioTransport(limits=LIMITS, ssl_context=ssl_context)
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, **timeouts))


def free_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------- scenarios


async def streams_a_chunked_body_and_reuses_the_connection(certificate: Certificate) -> None:
    async with LoopbackServer(sse(EVENTS)) as server, client() as http:
        for _ in range(2):
            async with http.stream("POST", server.url("/v1/x"), content=b'{"a":1}') as response:
                assert response.status_code == 200
                assert [part async for part in response.aiter_raw()] == EVENTS
    assert server.connections == 1
    assert [r.connection for r in server.requests] == [0, 0]
    first = server.requests[0]
    assert (first.method, first.target, first.body) == ("POST", "/v1/x", b'{"a":1}')
    assert first.headers["content-length"] == "7"


async def does_not_reuse_a_connection_the_server_closed(certificate: Certificate) -> None:
    async with LoopbackServer(sse(EVENTS, keep_open=False)) as server, client() as http:
        response = await http.get(server.url())
        assert response.content == b"".join(EVENTS)
        stream = response.extensions["network_stream"]
        await server.wait_for_hangups(1)
        while not stream.get_extra_info("is_readable"):  # until the loop has seen the FIN
            await asyncio.sleep(0.005)
        again = await http.get(server.url())
        assert again.content == b"".join(EVENTS)
    assert server.connections == 2


async def sends_a_large_body_whole(certificate: Certificate) -> None:
    size = 8 * SEND_AT + 123
    async with LoopbackServer(body_size()) as server, client() as http:
        response = await http.post(server.url(), content=b"x" * size)
    assert response.text == str(size)


async def receives_a_large_body_whole(certificate: Certificate) -> None:
    size = 16 * PAUSE_READING_AT + 7
    async with (
        LoopbackServer(sized_body(size)) as server,
        client() as http,
        http.stream("GET", server.url()) as response,
    ):
        await asyncio.sleep(0.05)  # not reading: the body piles up, the connection pauses
        assert len(await response.aread()) == size


async def speaks_tls_to_a_trusted_certificate(certificate: Certificate) -> None:
    tls = certificate.server_context()
    async with (
        LoopbackServer(sse(EVENTS), tls=tls) as server,
        client(certificate.client_context()) as http,
    ):
        for _ in range(2):
            response = await http.get(server.url())
            assert response.content == b"".join(EVENTS)
        ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
        assert ssl_object is not None
        assert ssl_object.version().startswith("TLS")
    assert server.connections == 1


async def refuses_an_untrusted_certificate(certificate: Certificate) -> None:
    tls = certificate.server_context()
    # the client trusts what httpx trusts (certifi), not the test's certificate
    async with LoopbackServer(sse(EVENTS), tls=tls) as server, client() as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(server.url())
    assert server.requests == []


async def times_out_a_tls_handshake_that_stalls(certificate: Certificate) -> None:
    async with LoopbackServer(None) as server:  # takes the client's hello, says nothing
        async with client(certificate.client_context(), connect=0.2) as http:
            with pytest.raises(httpx.ConnectTimeout):
                await http.get(f"https://127.0.0.1:{server.port}/")
        await server.wait_for_hangups(1)


async def times_out_a_server_that_does_not_answer(certificate: Certificate) -> None:
    async with LoopbackServer(silence()) as server:
        async with client(read=0.2) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(server.url())
        assert len(server.requests) == 1
        await server.wait_for_hangups(1)  # the connection was closed, not left open


async def times_out_a_write_the_server_does_not_read(certificate: Certificate) -> None:
    async with LoopbackServer(None, deaf=True) as server, client(write=0.2) as http:
        with pytest.raises(httpx.WriteTimeout):  # more than the sockets' buffers hold
            await http.post(server.url(), content=b"x" * (32 * 1024 * 1024))


async def reports_a_refused_connection(certificate: Certificate) -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/")


async def times_out_waiting_for_a_pooled_connection(certificate: Certificate) -> None:
    transport = AsyncioTransport(limits=httpx.Limits(max_connections=1))
    timeout = httpx.Timeout(5.0, pool=0.2)
    async with (
        LoopbackServer(sse(EVENTS)) as server,
        httpx.AsyncClient(transport=transport, timeout=timeout) as http,
        http.stream("GET", server.url()) as held,  # its body unread: the connection busy
    ):
        assert held.status_code == 200
        with pytest.raises(httpx.PoolTimeout):
            await http.get(server.url())


async def reports_a_body_cut_off(certificate: Certificate) -> None:
    async with (
        LoopbackServer(half_a_body()) as server,
        client() as http,
        http.stream("GET", server.url()) as response,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await response.aread()


async def reports_a_reset_connection(certificate: Certificate) -> None:
    async with LoopbackServer(half_a_body(reset=True)) as server, client() as http:
        with pytest.raises(httpx.ReadError):
            async with http.stream("GET", server.url()) as response:
                await response.aread()


Scenario = Callable[[Certificate], Awaitable[None]]
SCENARIOS: list[Scenario] = [
    streams_a_chunked_body_and_reuses_the_connection,
    does_not_reuse_a_connection_the_server_closed,
    sends_a_large_body_whole,
    receives_a_large_body_whole,
    speaks_tls_to_a_trusted_certificate,
    refuses_an_untrusted_certificate,
    times_out_a_tls_handshake_that_stalls,
    times_out_a_server_that_does_not_answer,
    times_out_a_write_the_server_does_not_read,
    reports_a_refused_connection,
    times_out_waiting_for_a_pooled_connection,
    reports_a_body_cut_off,
    reports_a_reset_connection,
]
NAMES = [scenario.__name__ for scenario in SCENARIOS]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=NAMES)
async def test_on_the_standard_loop(scenario: Scenario, certificate: Certificate) -> None:
    await asyncio.wait_for(scenario(certificate), 20)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=NAMES)
def test_on_uvloop(scenario: Scenario, certificate: Certificate) -> None:
    uvloop.run(asyncio.wait_for(scenario(certificate), 20))
