"""A fake OpenAI-compatible `/v1/embeddings` server on 127.0.0.1, deterministic, for the
knowledge tests: a bag of concepts hashed into a fixed dimension.

Each word of a text is lower-cased, stop words are dropped, and a small synonym map turns
words into concepts (`money`, `reimbursement` and `refund` are one), so a paraphrase lands
near the sentence it paraphrases while sharing none of its words; each concept adds 1 to
the coordinate its SHA-256 (salted by the model's name, so two models disagree) picks.
Requests are recorded; `fail_next` scripts error statuses.

    with FakeEmbeddingsServer() as server:
        server.base_url  # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DIMENSIONS = 256

_STOP = """a an the i my me we our to of is are be do does how can will for in on at and or
it as from with by after each every all any you your up get many may make what which this
that there when into than then its so if under"""
STOP_WORDS = frozenset(_STOP.split())

_GROUPS = {
    "refund": "refund refunds reimburse reimbursement money",
    "duration": "long until days day weeks week quickly soon time times",
    "password": "password secret passphrase passcode",
    "signin": "login sign signin log",
    "forget": "forgot forgotten forget lost",
    "parcel": "parcel parcels package packages order orders shipment item",
    "track": "tracking track follow trace",
    "cancel": "cancel cancelling stop terminate quit",
    "pay": "payment paying pay paid",
    "plan": "plan subscription",
    "data": "data information info records record",
    "sell": "sold sell sale",
    "personal": "personal private privacy",
    "request": "requests request calls call",
    "api": "api program integration script",
    "invite": "invite invitation add",
    "colleague": "colleague colleagues coworker coworkers teammate member members",
    "team": "team workspace",
    "support": "support helper help assistance desk human",
    "hours": "hours weekdays open",
    "contact": "reach contact answers answer",
    "export": "export download",
    "csv": "csv spreadsheet excel",
    "enable": "enable turn activate",
    "code": "code codes otp",
    "phone": "phone authenticator app mobile",
    "invoice": "invoice invoices bill bills billing",
    "arrive": "arrive arrives issued sent",
    "international": "international abroad overseas",
    "ship": "shipping shipped ship dispatched delivery leave",
}
SYNONYMS = {word: concept for concept, words in _GROUPS.items() for word in words.split()}


def concepts(text: str) -> list[str]:
    out = []
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in STOP_WORDS:
            continue
        if word not in SYNONYMS and len(word) > 3 and word.endswith("s"):
            word = word[:-1]
        out.append(SYNONYMS.get(word, word))
    return out


def embed(text: str, model: str) -> list[float]:
    """The fake model's vector of `text` (not normalised: the client normalises)."""
    vector = [0.0] * DIMENSIONS
    for concept in concepts(text):
        digest = hashlib.sha256(f"{model}:{concept}".encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % DIMENSIONS] += 1.0
    if not any(vector):
        vector[0] = 1.0  # a text of stop words only: some direction, never zero
    return vector


@dataclass(frozen=True)
class EmbeddingsRequest:
    model: str
    inputs: list[str]
    authorization: str | None


class FakeEmbeddingsServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[EmbeddingsRequest] = []
        self._failures: deque[int] = deque()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these HTTP statuses, one each."""
        with self._lock:
            self._failures.extend(statuses)

    def embedded(self, model: str | None = None) -> list[str]:
        """Every text embedded so far (by `model`), in order."""
        with self._lock:
            return [t for r in self.requests if model in (None, r.model) for t in r.inputs]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeEmbeddingsServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            http="h11",
            lifespan="off",
            log_config=None,
            log_level=None,
            interface="asgi3",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake embeddings server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> FakeEmbeddingsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ ASGI app

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] != "/v1/embeddings" or scope["method"] != "POST":
            await _json(send, 404, {"error": {"message": "no such route"}})
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        body = json.loads(raw)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        with self._lock:
            self.requests.append(
                EmbeddingsRequest(body["model"], list(inputs), headers.get("authorization"))
            )
            status = self._failures.popleft() if self._failures else 200
        if status != 200:
            await _json(send, status, {"error": {"message": f"scripted failure {status}"}})
            return
        data = [
            {"object": "embedding", "index": i, "embedding": embed(text, body["model"])}
            for i, text in enumerate(inputs)
        ]
        # out of order on purpose: clients must sort by `index`
        await _json(
            send,
            200,
            {"object": "list", "data": data[::-1], "model": body["model"], "usage": {}},
        )


async def _json(send: Send, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})
