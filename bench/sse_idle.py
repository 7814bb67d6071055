"""Idle SSE streams on one Agio process (`bench/sse_streams.py --idle`): memory per
stream, and that every stream is still served.

Starts `agio serve` (SQLite, a fresh data dir, one process, `load.server_env`, the
open-files limit raised to its hard limit) with a scripted agent, starts RUNS runs and
pauses each (`POST /api/runs/{id}/pause`), so they are alive and produce nothing. Then it
opens STREAMS `GET /api/runs/{id}/events` streams over them, OPENING at a time, from
raw asyncio connections (a few KB each, so that one client process holds 10,000), and:
the server's RSS before and with the streams open; how long opening took; with every
stream open, for HOLD seconds, the keep-alive pings each stream got (each must get one),
the server's CPU, and how long a plain request (`GET /api/runs/{id}`) takes meanwhile;
then it resumes the runs one at a time and waits for every stream to get `run_completed`.

What-if options (the server started through a small bootstrap, `SERVER`):
`--tracemalloc` prints what the server's Python allocations grew by with the streams open,
per stream, by module and source line; `--poll-seconds` sets the quiet-spell poll of
`agio.runtime.follow` (each idle stream rereads the event log and its run every 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from load import cpu_seconds, free_port, server_env, wait_ready  # noqa: E402
from sse_streams import rss_mb  # noqa: E402

TERMINAL = ("run_completed", "run_failed", "run_cancelled")

# the server with what-if options: tracemalloc (its first SIGUSR1 starts tracing, each
# writes a snapshot to AGIO_BENCH_SNAPSHOT.<n>: their difference is what was allocated in
# between and is still alive), or `follow`'s quiet-spell poll at AGIO_BENCH_POLL_SECONDS
# instead of its 1 s (agio.runtime.follow.POLL_SECONDS; no setting exists for it)
SERVER = """
import os, signal, tracemalloc
if os.environ.get("AGIO_BENCH_SNAPSHOT"):
    taken = [0]
    def dump(signum, frame):
        if not tracemalloc.is_tracing():
            tracemalloc.start()
        taken[0] += 1
        path = os.environ["AGIO_BENCH_SNAPSHOT"] + "." + str(taken[0])
        tracemalloc.take_snapshot().dump(path + ".part")
        os.replace(path + ".part", path)
    signal.signal(signal.SIGUSR1, dump)
if os.environ.get("AGIO_BENCH_POLL_SECONDS"):
    from agio.runtime import follow
    follow.follow.__kwdefaults__["poll_seconds"] = float(os.environ["AGIO_BENCH_POLL_SECONDS"])
from agio.cli import main
main()
"""


def raise_nofile() -> int:
    """This process's open-files limit raised to its hard limit; the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def write_idle_configs(directory: Path) -> None:
    """An agent whose runs stream for about 2 s in their first step (so that a pause sent
    at their start arrives during it), then call a tool, then end with a short answer."""
    directory.mkdir(parents=True, exist_ok=True)
    components = [
        {
            "type": "model",
            "name": "pausable",
            "provider": "scripted",
            "model": "scripted",
            "chunk_size": 5,
            "chunk_delay": 0.05,
            "responses": [
                {
                    "content": "Let me compute it. " * 10,
                    "tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}],
                },
                {"content": "It is 42."},
            ],
        },
        {"type": "tool", "name": "calculator", "kind": "builtin", "builtin": "calculator"},
        {
            "type": "agent",
            "name": "idler",
            "model": "pausable",
            "tools": ["calculator"],
            "config": {"max_steps": 4},
        },
    ]
    (directory / "idle.yaml").write_text(json.dumps(components))


class IdleStream(asyncio.Protocol):
    """One SSE stream over a raw connection: the request written, the response's status
    checked, then its lines counted (pings, events) until the run's terminal event."""

    def __init__(self, request: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self.opened: asyncio.Future[None] = loop.create_future()
        self.ended: asyncio.Future[None] = loop.create_future()
        self.head = b""
        self.partial = b""
        self.pings = 0
        self.events = 0
        self.terminal: str | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            status = self.head.split(b" ", 2)[1]
            data, self.head = self.head[end + 4 :], b""
            if status != b"200":
                self.opened.set_exception(RuntimeError(f"HTTP {status.decode()}"))
                self.close()
                return
            self.opened.set_result(None)
        lines = (self.partial + data).split(b"\n")  # chunked framing: whole SSE messages
        self.partial = lines.pop()
        for line in lines:
            if line.startswith(b": ping"):
                self.pings += 1
            elif line.startswith(b"event:"):
                self.events += 1
                kind = line[6:].strip().decode()
                if kind in TERMINAL:
                    self.terminal = kind
                    self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before the response"))
        if not self.ended.done():
            self.ended.set_result(None)


async def open_streams(
    port: int, key: str, run_ids: list[str], count: int, at_once: int
) -> tuple[list[IdleStream], list[str]]:
    """`count` streams spread over the runs, at most `at_once` being opened at a time (the
    listen backlog is finite); the open ones, and why the others failed."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(at_once)
    streams: list[IdleStream] = []
    failures: list[str] = []

    async def open_one(index: int) -> None:
        request = (
            f"GET /api/runs/{run_ids[index % len(run_ids)]}/events HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
        async with gate:
            try:
                _, stream = await loop.create_connection(
                    lambda: IdleStream(request, loop), "127.0.0.1", port
                )
                await asyncio.wait_for(stream.opened, 120)
            except Exception as exc:
                failures.append(repr(exc))
                return
        streams.append(stream)

    await asyncio.gather(*(open_one(i) for i in range(count)))
    return streams, failures


async def start_paused_runs(client: httpx.AsyncClient, runs: int) -> list[str]:
    async def one() -> str:
        async with client.stream(
            "POST", "/api/chat", json={"agent_id": "idler", "message": "go"}
        ) as response:
            run_id = response.headers["x-run-id"]
        paused = await client.post(f"/api/runs/{run_id}/pause")
        if paused.status_code != 200 or paused.json()["status"] != "paused":
            raise RuntimeError(f"pause of {run_id}: {paused.status_code} {paused.text[:200]}")
        return run_id

    run_ids: list[str] = []
    for first in range(0, runs, 10):
        run_ids += await asyncio.gather(*(one() for _ in range(min(10, runs - first))))
    return run_ids


def snapshot(pid: int, base: Path, number: int) -> Path:
    os.kill(pid, signal.SIGUSR1)
    path = Path(f"{base}.{number}")
    deadline = time.monotonic() + 300
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no tracemalloc snapshot from the server")
        time.sleep(0.2)
    return path


def print_growth(before: Path, after: Path, streams: int) -> None:
    """What the server's Python allocations grew by with the streams open, per stream: in
    all, by module and by source line (the largest)."""
    import tracemalloc

    old, new = tracemalloc.Snapshot.load(str(before)), tracemalloc.Snapshot.load(str(after))
    by_file = new.compare_to(old, "filename")
    total = sum(s.size_diff for s in by_file)
    count = sum(s.count_diff for s in by_file)
    print(
        f"tracemalloc: the server's Python allocations grew by {total / streams / 1024:.1f} KB "
        f"per stream ({count / streams:.0f} blocks per stream)"
    )
    print("\n| module | KB per stream |\n|---|---|")
    for stat in by_file[:12]:
        name = stat.traceback[0].filename.split("site-packages/")[-1].replace(str(ROOT), "")
        print(f"| {name} | {stat.size_diff / streams / 1024:.2f} |")
    print("\n| source line | KB per stream | blocks per stream |\n|---|---|---|")
    for stat in new.compare_to(old, "lineno")[:20]:
        frame = stat.traceback[0]
        name = frame.filename.split("site-packages/")[-1].replace(str(ROOT), "")
        print(
            f"| {name}:{frame.lineno} | {stat.size_diff / streams / 1024:.2f} | "
            f"{stat.count_diff / streams:.1f} |"
        )


async def resume_all(client: httpx.AsyncClient, run_ids: list[str]) -> list[str]:
    """Resume each run, one at a time; the errors (an attempt that failed is retried
    twice)."""
    errors: list[str] = []
    for run_id in run_ids:
        for _ in range(3):
            response = await client.post(f"/api/runs/{run_id}/resume")
            if response.status_code == 200:
                break
            errors.append(f"{response.status_code} {response.text[:160]}")
    return errors


async def hold(
    client: httpx.AsyncClient, pid: int, run_id: str, seconds: float
) -> tuple[float, float, list[float]]:
    """(seconds held, the server's CPU meanwhile in cores, the times of a run read every
    5 s)."""
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    reads: list[float] = []
    while time.monotonic() - t0 < seconds:
        started = time.perf_counter()
        (await client.get(f"/api/runs/{run_id}")).raise_for_status()
        reads.append(time.perf_counter() - started)
        await asyncio.sleep(max(0.0, min(5.0, seconds - (time.monotonic() - t0))))
    held = time.monotonic() - t0
    return held, (cpu_seconds(pid) - cpu0) / held, reads


def start_server(args: argparse.Namespace, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    write_idle_configs(tmp / "configs")
    what_if: dict[str, str] = {}
    if args.tracemalloc:
        what_if["AGIO_BENCH_SNAPSHOT"] = str(tmp / "snapshot")
    if args.poll_seconds:
        what_if["AGIO_BENCH_POLL_SECONDS"] = str(args.poll_seconds)
    env = server_env(tmp / "data", tmp / "configs", AGIO_SSE_PING_SECONDS=str(args.ping), **what_if)
    command = ["-c", SERVER] if what_if else ["-m", "agio"]
    return subprocess.Popen(
        [sys.executable, *command, "serve", "--port", str(port)],
        env=env,
        cwd=tmp,
        preexec_fn=raise_nofile,  # no threads in this process yet
    )


async def idle_main(args: argparse.Namespace) -> None:
    limit = raise_nofile()
    if limit < args.streams + 200:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {limit}: too low for {args.streams} streams")
    tmp = Path(tempfile.mkdtemp(prefix="agio-sse-idle-bench-"))
    port = free_port()
    server = start_server(args, tmp, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/api/health", server, 180)
        key = (tmp / "data" / "admin.key").read_text().strip()
        async with httpx.AsyncClient(
            base_url=base, headers={"X-API-Key": key}, timeout=300
        ) as client:
            run_ids = await start_paused_runs(client, args.runs)
            await asyncio.sleep(1)
            rss_before = rss_mb(server.pid)
            if args.tracemalloc:
                first = snapshot(server.pid, tmp / "snapshot", 1)
            t0 = time.monotonic()
            streams, failures = await open_streams(port, key, run_ids, args.streams, args.opening)
            open_seconds = time.monotonic() - t0
            if not streams:
                raise SystemExit(f"no stream opened: {failures[:3]}")
            await asyncio.sleep(2)
            rss_open = rss_mb(server.pid)
            print(
                f"{args.streams} idle SSE streams over {args.runs} paused runs, opened "
                f"{args.opening} at a time; keep-alive ping every {args.ping:g} s"
                + (" (server under tracemalloc)" if args.tracemalloc else "")
                + (f"; follow's quiet poll {args.poll_seconds:g} s" if args.poll_seconds else "")
            )
            print(f"open: {len(streams)} after {open_seconds:.1f} s; failed: {len(failures)}")
            for reason in sorted(set(failures))[:5]:
                print(f"  failure: {reason} x{failures.count(reason)}")
            print(
                f"server RSS: {rss_before:.1f} MB before, {rss_open:.1f} MB with the streams "
                f"open = {(rss_open - rss_before) * 1024 / max(len(streams), 1):.1f} KB per "
                "stream",
                flush=True,
            )
            if args.tracemalloc:
                print_growth(first, snapshot(server.pid, tmp / "snapshot", 2), len(streams))
            pings = [s.pings for s in streams]
            held, busy, reads = await hold(client, server.pid, run_ids[0], args.hold)
            pinged = sum(s.pings > p for s, p in zip(streams, pings, strict=True))
            print(
                f"held {held:.0f} s: {pinged} of {len(streams)} streams got a ping, "
                f"{sum(s.ended.done() for s in streams)} closed; server RSS "
                f"{rss_mb(server.pid):.1f} MB, CPU {busy * 100:.0f} % of a core; "
                f"GET /api/runs/{{id}} p50 {statistics.median(reads) * 1000:.1f} ms, "
                f"max {max(reads) * 1000:.1f} ms",
                flush=True,
            )
            t1 = time.monotonic()
            errors = await resume_all(client, run_ids)
            _, pending = await asyncio.wait([s.ended for s in streams], timeout=300)
        completed = sum(s.terminal == "run_completed" for s in streams)
        print(
            f"resumed: {completed} of {len(streams)} streams got run_completed within "
            f"{time.monotonic() - t1:.1f} s; {len(pending)} still open; client RSS "
            f"{rss_mb(os.getpid()):.0f} MB"
        )
        for error in sorted(set(errors))[:5]:
            print(f"  resume failed: {error} x{errors.count(error)}")
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
