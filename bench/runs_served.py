"""Memory and CPU of one Agio process over many runs served, one after another.

Starts `bench/fake_openai.py` and one `agio serve` (SQLite in a fresh data dir, API key
auth, rate limits off: `load.server_env`), then serves RUNS chats at CONCURRENCY, each a
chat of `load.py`'s plain agent (no tool), every tenth of them streaming. Every EVERY
runs it samples the server's resident memory (`VmRSS` from `/proc/<pid>/status`) and its
CPU (user + system from `/proc/<pid>/stat`) since the last sample, per run, and the fake
model's CPU per run likewise: its work per run does not change, so it shows how the
machine's speed drifts (other load on it). The table compares each sample's RSS with the
first one's (after EVERY runs: the process has warmed up its caches by then).

    .venv/bin/python bench/runs_served.py                         # 100,000 runs, 16 at a time
    .venv/bin/python bench/runs_served.py --runs 20000 --every 2000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from load import cpu_seconds, free_port, one_chat, server_env, wait_ready, write_configs  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def tree_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 1024 / 1024


@dataclass
class Sample:
    runs: int
    seconds: float  # since the start of the measured runs
    rss_mb: float
    cpu_ms_per_run: float  # over the runs since the previous sample
    fake_cpu_ms_per_run: float  # the fake model's, likewise: the machine's speed
    runs_per_second: float  # likewise
    failures: int


class Meter:
    """Samples of the server (and the fake model's CPU) every so many runs."""

    def __init__(self, pid: int, fake_pid: int) -> None:
        self.pid, self.fake_pid = pid, fake_pid
        self.samples: list[Sample] = []
        self.done = 0
        self.failures = 0
        self.t0 = time.perf_counter()
        self.last = (0, self.t0, cpu_seconds(pid), cpu_seconds(fake_pid))

    def sample(self) -> None:
        runs0, at0, cpu0, fake0 = self.last
        at, cpu, fake = time.perf_counter(), cpu_seconds(self.pid), cpu_seconds(self.fake_pid)
        count = max(self.done - runs0, 1)
        s = Sample(
            self.done,
            at - self.t0,
            rss_mb(self.pid),
            (cpu - cpu0) * 1000 / count,
            (fake - fake0) * 1000 / count,
            count / (at - at0),
            self.failures,
        )
        self.samples.append(s)
        print(
            f"{s.runs:>7} runs  {s.seconds:7.1f} s  RSS {s.rss_mb:7.1f} MB  "
            f"{s.cpu_ms_per_run:5.2f} ms CPU/run (fake model {s.fake_cpu_ms_per_run:4.2f})  "
            f"{s.runs_per_second:6.1f} runs/s  failures {s.failures}",
            flush=True,
        )
        self.last = (self.done, time.perf_counter(), cpu_seconds(self.pid), fake)


async def serve_runs(
    base: str,
    key: str,
    pids: tuple[int, int],
    args: argparse.Namespace,
    reasons: Counter[str],
) -> tuple[float, list[Sample]]:
    """Serve `args.runs` chats, `args.concurrency` at a time, sampling every `args.every`:
    the server's RSS after the warm-up, and the samples."""
    limits = httpx.Limits(
        max_connections=args.concurrency + 4, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(
        base_url=base, timeout=60, limits=limits, headers={"X-API-Key": key}
    ) as client:
        for i in range(20):  # warm-up, both kinds of chat
            await one_chat(client, "bench_plain", i % 2 == 1)
        rss_start = rss_mb(pids[0])
        meter = Meter(*pids)
        started = 0

        async def worker() -> None:
            nonlocal started
            while started < args.runs:
                stream = started % args.stream_every == args.stream_every - 1
                started += 1
                try:
                    await one_chat(client, "bench_plain", stream)
                except Exception as exc:
                    meter.failures += 1
                    reasons[repr(exc)[:200]] += 1
                meter.done += 1
                if meter.done % args.every == 0 or meter.done == args.runs:
                    meter.sample()

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return rss_start, meter.samples


def report(
    args: argparse.Namespace,
    rss_start: float,
    samples: list[Sample],
    db_mb: float,
    reasons: Counter[str],
) -> None:
    first = samples[0].rss_mb
    top = max(s.rss_mb for s in samples)
    print()
    print(
        f"{samples[-1].runs} runs served ({args.concurrency} at a time, every "
        f"{args.stream_every}th streaming) in {samples[-1].seconds:.0f} s; "
        f"{samples[-1].failures} failures; data dir {db_mb:.0f} MB at the end"
    )
    for reason, count in reasons.most_common(5):
        print(f"  failed: {reason} x{count}")
    print(f"server RSS after the warm-up: {rss_start:.1f} MB")
    print()
    print(
        "| runs served | RSS MB | vs first sample | server CPU ms/run (since previous) "
        "| fake model CPU ms/run | runs/s |"
    )
    print("|---|---|---|---|---|---|")
    for s in samples:
        print(
            f"| {s.runs:,} | {s.rss_mb:.1f} | {(s.rss_mb / first - 1) * 100:+.1f} % | "
            f"{s.cpu_ms_per_run:.2f} | {s.fake_cpu_ms_per_run:.2f} | {s.runs_per_second:.1f} |"
        )
    cpus = [s.cpu_ms_per_run for s in samples]
    print()
    last_rss = samples[-1].rss_mb
    print(
        f"RSS: first sample {first:.1f} MB, largest {top:.1f} MB "
        f"({(top / first - 1) * 100:+.1f} %), last {last_rss:.1f} MB "
        f"({(last_rss / first - 1) * 100:+.1f} %)"
    )
    print(
        f"CPU per run: first window {cpus[0]:.2f} ms, last {cpus[-1]:.2f} ms, "
        f"range {min(cpus):.2f}-{max(cpus):.2f} ms"
    )


async def main_async(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="agio-served-bench-"))
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
        wait_ready(f"{base}/api/health", agio, 120)
        key = (tmp / "data" / "admin.key").read_text().strip()
        reasons: Counter[str] = Counter()
        rss_start, samples = await serve_runs(base, key, (agio.pid, fake.pid), args, reasons)
        report(args, rss_start, samples, tree_mb(tmp / "data"), reasons)
    finally:
        for process in (agio, fake):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(tmp, ignore_errors=True)  # a GB or more of database at 100,000 runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--every", type=int, default=5000, help="runs between two samples")
    parser.add_argument(
        "--stream-every", type=int, default=10, help="one chat in this many streams"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
