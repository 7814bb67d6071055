"""Many concurrent SSE streams against one Agio process: memory per stream and event
delivery, with the runs streaming (the default) or idle (`--idle`).

Starts `agio serve` (SQLite, a fresh data dir, one process, `load.server_env`) with a
scripted agent. Reports the server's resident memory before and with the streams open
(per stream).

Default: starts RUNS runs that stream slowly and opens STREAMS `GET /api/runs/{id}/events`
SSE streams spread over them (all held open at once, from this one client process, with
httpx); for every event delivered live (created after its stream was open), the delay
from the event's server timestamp to its arrival at the client, p50/p99/max.

`--idle` (`bench/sse_idle.py`): STREAMS streams (10,000 unless given) on RUNS paused runs,
which produce nothing: memory per stream, time to open, pings and the final event on every
stream, the server's CPU with them idle.

    .venv/bin/python bench/sse_streams.py                      # 1000 streams over 20 runs
    .venv/bin/python bench/sse_streams.py --streams 200 --runs 10
    .venv/bin/python bench/sse_streams.py --idle               # 10,000 idle streams, 100 runs
    .venv/bin/python bench/sse_streams.py --idle --poll-seconds 600     # what-if: no quiet poll
    .venv/bin/python bench/sse_streams.py --idle --streams 1000 --poll-seconds 600 --tracemalloc
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from load import free_port, percentile, server_env, wait_ready  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def write_configs(directory: Path, chunks: int, delay: float) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = "".join(f"w{i:03d} " for i in range(chunks))
    components = [
        {
            "type": "model",
            "name": "slow_stream",
            "provider": "scripted",
            "model": "scripted",
            "chunk_size": 5,
            "chunk_delay": delay,
            "responses": [{"content": text}],
        },
        {"type": "agent", "name": "streamer", "model": "slow_stream", "config": {"max_steps": 2}},
    ]
    (directory / "streams.yaml").write_text(json.dumps(components))


async def follow(
    client: httpx.AsyncClient,
    run_id: str,
    opened: dict[int, float],
    arrivals: dict[int, list[tuple[int, float]]],
    index: int,
    all_open: asyncio.Event,
) -> None:
    async with client.stream(
        "GET", f"/api/runs/{run_id}/events", headers={"Accept": "text/event-stream"}
    ) as response:
        response.raise_for_status()
        opened[index] = time.time()
        if len(opened) == len(arrivals):
            all_open.set()
        seq = None
        async for line in response.aiter_lines():
            if line.startswith("id:"):
                seq = int(line[3:].strip())
            elif line.startswith("event:") and seq is not None:
                arrivals[index].append((seq, time.time()))
                if line[6:].strip() in ("run_completed", "run_failed", "run_cancelled"):
                    return


async def live_main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="agio-sse-bench-"))
    port = free_port()
    write_configs(tmp / "configs", args.chunks, args.chunk_delay)
    env = server_env(tmp / "data", tmp / "configs", AGIO_SSE_PING_SECONDS="15")
    server = subprocess.Popen(
        [sys.executable, "-m", "agio", "serve", "--port", str(port)], env=env, cwd=tmp
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/api/health", server, 120)
        key = (tmp / "data" / "admin.key").read_text().strip()
        limits = httpx.Limits(max_connections=args.streams + 50, max_keepalive_connections=50)
        async with httpx.AsyncClient(
            base_url=base, headers={"X-API-Key": key}, timeout=120, limits=limits
        ) as client:
            await client.get("/api/agents")  # warm up
            run_ids: list[str] = []
            # start the runs as streaming chats and let go at once: they go on server-side
            for _ in range(args.runs):
                async with client.stream(
                    "POST", "/api/chat", json={"agent_id": "streamer", "message": "go"}
                ) as response:
                    run_ids.append(response.headers["x-run-id"])
            rss_before = rss_mb(server.pid)  # the runs started, no stream open yet
            opened: dict[int, float] = {}
            arrivals: dict[int, list[tuple[int, float]]] = {i: [] for i in range(args.streams)}
            all_open = asyncio.Event()
            t0 = time.monotonic()
            tasks = [
                asyncio.create_task(
                    follow(client, run_ids[i % len(run_ids)], opened, arrivals, i, all_open)
                )
                for i in range(args.streams)
            ]
            await asyncio.wait_for(all_open.wait(), 120)
            open_seconds = time.monotonic() - t0
            rss_open = rss_mb(server.pid)
            await asyncio.gather(*tasks)
            created: dict[str, dict[int, float]] = {}
            for run_id in run_ids:
                events = (await client.get(f"/api/runs/{run_id}/events")).json()["events"]
                created[run_id] = {
                    e["seq"]: datetime.fromisoformat(e["timestamp"]).timestamp() for e in events
                }
        delays = []
        for i, received in arrivals.items():
            stamps = created[run_ids[i % len(run_ids)]]
            for seq, at in received:
                if stamps[seq] >= opened[i]:  # delivered live, not replayed
                    delays.append(at - stamps[seq])
        print(
            f"{args.streams} SSE streams over {args.runs} runs "
            f"({args.chunks} chunks of 5 characters every {args.chunk_delay}s each)"
        )
        print(f"all streams open after {open_seconds:.1f} s")
        print(
            f"server RSS: {rss_before:.1f} MB before, {rss_open:.1f} MB with the streams open "
            f"= {(rss_open - rss_before) * 1024 / args.streams:.1f} KB per stream"
        )
        print(
            f"live events delivered: {len(delays)}; delay from the event's creation to its "
            f"arrival: p50 {statistics.median(delays) * 1000:.1f} ms, "
            f"p99 {percentile(delays, 99) * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms"
        )
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", action="store_true", help="streams of paused runs")
    parser.add_argument("--streams", type=int, help="default 1000, or 10000 with --idle")
    parser.add_argument("--runs", type=int, help="default 20, or 100 with --idle")
    parser.add_argument("--chunks", type=int, default=100, help="chunks per answer")
    parser.add_argument("--chunk-delay", type=float, default=0.1)
    parser.add_argument("--opening", type=int, default=50, help="--idle: streams opening at once")
    parser.add_argument("--hold", type=float, default=35.0, help="--idle: seconds held open")
    parser.add_argument("--ping", type=float, default=15.0, help="--idle: AGIO_SSE_PING_SECONDS")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="--idle: server under tracemalloc"
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        help="--idle, what-if: the server's quiet-spell poll of each stream (1 s in agio)",
    )
    args = parser.parse_args()
    if args.streams is None:
        args.streams = 10_000 if args.idle else 1000
    if args.runs is None:
        args.runs = 100 if args.idle else 20
    if args.idle:
        from sse_idle import idle_main

        asyncio.run(idle_main(args))
    else:
        asyncio.run(live_main(args))


if __name__ == "__main__":
    main()
