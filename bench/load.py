"""Bounded load generator for Agio's chat API against the fake OpenAI-compatible server.

Starts the fake model server and an Agio server (SQLite, fresh data dir) as subprocesses,
then measures, for streaming and non-streaming chat, with and without one tool call, at
each concurrency: runs per second, server CPU milliseconds per run (from /proc), latency
p50/p99, and for streaming the time to the first `content_delta` next to the fake model's
own time to first chunk.

    .venv/bin/python bench/load.py                    # the figures in docs/benchmarks.md
    .venv/bin/python bench/load.py --runs 200 --concurrency 1,8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Result:
    name: str
    concurrency: int
    runs: int
    seconds: float
    cpu_ms_per_run: float
    latencies: list[float]
    ttft: list[float]
    failures: int


async def one_chat(client: httpx.AsyncClient, agent: str, stream: bool) -> tuple[float, float]:
    """(latency, time to first content_delta or nan) of one chat."""
    started = time.perf_counter()
    body = {"agent_id": agent, "message": "What is 6*7?", "stream": stream}
    if not stream:
        response = await client.post("/api/chat", json=body)
        if response.status_code != 200 or response.json()["status"] != "completed":
            raise RuntimeError(response.text[:200])
        return time.perf_counter() - started, float("nan")
    first = float("nan")
    async with client.stream("POST", "/api/chat", json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                if event == "content_delta" and first != first:
                    first = time.perf_counter() - started
                elif event in ("run_completed", "run_failed", "run_cancelled"):
                    if event != "run_completed":
                        raise RuntimeError(event)
                    break
    return time.perf_counter() - started, first


async def scenario(
    base: str,
    key: str,
    pid: int,
    name: str,
    agent: str,
    stream: bool,
    concurrency: int,
    runs: int,
    max_seconds: float,
) -> Result:
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, timeout=60, limits=limits, headers={"X-API-Key": key}
    ) as client:
        for _ in range(min(10, runs)):  # warm-up
            await one_chat(client, agent, stream)
        latencies: list[float] = []
        ttft: list[float] = []
        failures = 0
        remaining = runs
        deadline = time.perf_counter() + max_seconds

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                try:
                    latency, first = await one_chat(client, agent, stream)
                except Exception:
                    failures += 1
                    continue
                latencies.append(latency)
                if first == first:
                    ttft.append(first)

        cpu0 = cpu_seconds(pid)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
        cpu = cpu_seconds(pid) - cpu0
    done = len(latencies)
    return Result(
        name, concurrency, done, seconds, cpu * 1000 / max(done, 1), latencies, ttft, failures
    )


async def fake_model_ttft(fake_url: str, samples: int) -> list[float]:
    """The fake model's own time to its first content chunk, measured the same way."""
    out = []
    body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=fake_url, timeout=30) as client:
        for _ in range(samples):
            started = time.perf_counter()
            async with client.stream("POST", "/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if '"content":"word' in line:
                        out.append(time.perf_counter() - started)
                        break
    return out


def write_configs(directory: Path, fake_url: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    components = [
        {
            "type": "model",
            "name": "bench_model",
            "provider": "openai",
            "model": "bench",
            "base_url": fake_url,
            "api_key": "bench-key",
            "max_retries": 0,
        },
        {"type": "tool", "name": "calculator", "kind": "builtin", "builtin": "calculator"},
        {
            "type": "agent",
            "name": "bench_plain",
            "model": "bench_model",
            "config": {"max_steps": 4},
        },
        {
            "type": "agent",
            "name": "bench_tool",
            "model": "bench_model",
            "tools": ["calculator"],
            "config": {"max_steps": 4},
        },
    ]
    (directory / "bench.yaml").write_text(json.dumps(components))  # JSON is valid YAML


def server_env(data_dir: Path, configs_dir: Path, **more: str) -> dict[str, str]:
    """The environment of an `agio serve` under measurement: the server's work per run,
    with authentication (an API key looked up per request) but without rate limits or a
    quota on active runs, which would refuse the load itself."""
    return {
        **os.environ,
        "AGIO_DATA_DIR": str(data_dir),
        "AGIO_CONFIGS_DIR": str(configs_dir),
        "AGIO_LOG_LEVEL": "WARNING",
        "AGIO_WATCH_CONFIGS": "false",
        "AGIO_RATE_LIMIT_CHAT": "",
        "AGIO_RATE_LIMIT_READ": "",
        "AGIO_RATE_LIMIT_WRITE": "",
        "AGIO_MAX_ACTIVE_RUNS_PER_USER": "100000",
        **more,
    }


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: process exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def main_async(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="agio-bench-"))
    fake_port, agio_port = free_port(), free_port()
    fake_url = f"http://127.0.0.1:{fake_port}/v1"
    write_configs(tmp / "configs", fake_url)
    env = server_env(tmp / "data", tmp / "configs")
    fake = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fake_openai.py"), "--port", str(fake_port)]
    )
    agio = subprocess.Popen(
        [sys.executable, "-m", "agio", "serve", "--port", str(agio_port)], env=env, cwd=tmp
    )
    base = f"http://127.0.0.1:{agio_port}"
    try:
        wait_ready(f"{fake_url}/models", fake)
        wait_ready(f"{base}/api/health", agio)
        key = (tmp / "data" / "admin.key").read_text().strip()
        own = await fake_model_ttft(fake_url, 100)
        results = []
        for concurrency in args.concurrency:
            runs = args.runs if concurrency > 1 else max(50, args.runs // 8)
            for stream in (False, True):
                for tool in (False, True):
                    mode = "stream" if stream else "non-stream"
                    name = f"{mode}, {'1 tool call' if tool else 'no tool'}"
                    results.append(
                        await scenario(
                            base,
                            key,
                            agio.pid,
                            name,
                            "bench_tool" if tool else "bench_plain",
                            stream,
                            concurrency,
                            runs,
                            args.max_seconds,
                        )
                    )
        print(
            f"fake model's own time to first chunk: p50 {percentile(own, 50) * 1000:.2f} ms, "
            f"p99 {percentile(own, 99) * 1000:.2f} ms"
        )
        print()
        print(
            "| scenario | concurrency | runs | runs/s | server CPU ms/run | p50 ms | p99 ms "
            "| first delta p50 ms | failures |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for r in results:
            first = f"{percentile(r.ttft, 50) * 1000:.2f}" if r.ttft else "—"
            print(
                f"| {r.name} | {r.concurrency} | {r.runs} | {r.runs / r.seconds:.1f} | "
                f"{r.cpu_ms_per_run:.2f} | {statistics.median(r.latencies) * 1000:.1f} | "
                f"{percentile(r.latencies, 99) * 1000:.1f} | {first} | {r.failures} |"
            )
    finally:
        for process in (agio, fake):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=640, help="runs per scenario at c > 1")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 32]
    )
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="upper bound on each scenario's duration"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
