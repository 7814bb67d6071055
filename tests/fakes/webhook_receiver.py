"""A webhook receiver on 127.0.0.1 for tests: a real HTTP server in a thread of its own
that keeps every request (headers and body) and answers with the statuses it is given,
in order (the last one repeats; with `per_delivery`, in order for each `webhook-id`).
`hold` makes it wait before answering (a slow or hung
endpoint) until `release`."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class WebhookReceiver:
    def __init__(self, statuses: list[int] | None = None, *, per_delivery: bool = False) -> None:
        self.statuses = list(statuses or [200])
        self.per_delivery = per_delivery
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._held = threading.Event()
        self._held.set()  # not holding
        #: set while a request waits in `hold`
        self.waiting = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name for it
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    index = len(receiver.received) - 1
                    if receiver.per_delivery:
                        same = receiver.received[-1].headers.get("webhook-id")
                        index = sum(r.headers.get("webhook-id") == same for r in receiver.received)
                        index -= 1
                    status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                if not receiver._held.is_set():
                    receiver.waiting.set()
                    receiver._held.wait(60)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: a test reads what arrived, not the server's access log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def hold(self) -> None:
        """Keep the next requests waiting before they are answered."""
        self._held.clear()

    def release(self) -> None:
        self._held.set()

    def _got(self, where: Callable[[Received], bool] | None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if where is None or where(r)]

    def wait_for(
        self, count: int, timeout: float = 20, where: Callable[[Received], bool] | None = None
    ) -> list[Received]:
        """The requests once at least `count` (matching `where`) have arrived; fails the
        test after `timeout` seconds without them. Blocks: for a server in another
        process or thread (an app on the test's own event loop: `arrived`)."""
        deadline = time.monotonic() + timeout
        while len(got := self._got(where)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook requests, got {len(got)}")
            time.sleep(0.02)
        return got

    async def arrived(
        self, count: int, timeout: float = 20, where: Callable[[Received], bool] | None = None
    ) -> list[Received]:
        """`wait_for` without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while len(got := self._got(where)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook requests, got {len(got)}")
            await asyncio.sleep(0.02)
        return got

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
