"""Server CPU per chat run on an empty database and on one holding 100,000 stored runs.

What a run costs the server must not grow with the runs already stored: every query on a
hot or periodic path (the quota check, control polling, heartbeats, the orphan search)
reads indexes over unfinished runs only (docs/runs.md). This starts the fake model
(`bench/fake_openai.py`) and two `agio serve` processes, one on an empty database and one
on a database seeded with `--history` ended runs (completed, failed, cancelled; spread over
the benchmark's admin and three other users, 60 days, five runs per session, with their
events), and measures both alternately with `bench/load.py`'s scenarios: server CPU per
run from /proc, per scenario and round; the table shows the medians.

    .venv/bin/python bench/history_cost.py                  # SQLite, 100,000 runs
    .venv/bin/python bench/history_cost.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from load import ROOT, cpu_seconds, free_port, scenario, server_env, wait_ready, write_configs
from sqlalchemy import insert, select, text

from agio.domain.time import utcnow
from agio.storage.database import Database
from agio.storage.tables import RunEventRow, RunRow, SessionRow, UserRow

CHUNK = 5000
ENDED = ("completed",) * 17 + ("failed",) * 2 + ("cancelled",)


def _history_rows(
    i: int, user: str, now: Any, history: int, events: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    when = now - timedelta(days=60) * (history - i) / history
    status = ENDED[i % len(ENDED)]
    run_id = f"run_hist{i:08d}"
    run = {
        "id": run_id,
        "agent_id": "agt_history",
        "agent_name": "bench_plain",
        "session_id": f"ses_hist{i // 5:08d}",
        "user_id": user,
        "status": status,
        "input_query": "What is 6*7?",
        "response_content": "word0 word1 word2" if status == "completed" else None,
        "error": {"type": "ModelError", "message": "bench"} if status == "failed" else None,
        "metrics": {"total_tokens": 70, "steps": 1},
        "agent_config": {"name": "bench_plain", "model": {"name": "bench_model"}},
        "model_name": "bench_model",
        "prompt_tokens": 50,
        "completion_tokens": 20,
        "total_tokens": 70,
        "tool_calls": 0,
        "duration": 0.012,
        "last_seq": events,
        "owner_id": None,
        "heartbeat_at": when,
        "control": None,
        "parent_run_id": None,
        "forked_from_checkpoint_id": None,
        "recovery_count": 0,
        "created_at": when,
        "started_at": when,
        "ended_at": when + timedelta(milliseconds=12),
    }
    kinds = ["run_started", *(["content_delta"] * max(0, events - 2)), f"run_{status}"]
    log = [
        {"run_id": run_id, "seq": seq, "type": kind, "data": {}, "created_at": when}
        for seq, kind in enumerate(kinds[:events], start=1)
    ]
    return run, log


async def seed(url: str, history: int, events: int) -> float:
    """Store `history` ended runs (and their sessions and events); returns the seconds."""
    started = time.perf_counter()
    db = Database(url)
    try:
        now = utcnow()
        async with db.engine.begin() as conn:
            admin = await conn.scalar(select(UserRow.id).where(UserRow.role == "admin"))
            others = [f"usr_hist{n}" for n in range(3)]
            await conn.execute(
                insert(UserRow),
                [
                    {
                        "id": user,
                        "username": user,
                        "password_hash": None,
                        "role": "user",
                        "disabled": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for user in others
                ],
            )
            # half of the history is the benchmark caller's own: its quota check is the one
            # that used to visit all of it
            owners = [admin, admin, admin, *others]
            for first in range(0, history, CHUNK):
                runs, logs, sessions = [], [], []
                for i in range(first, min(history, first + CHUNK)):
                    user = owners[i % len(owners)]
                    run, log = _history_rows(i, user, now, history, events)
                    runs.append(run)
                    logs.extend(log)
                    if i % 5 == 0:
                        sessions.append(
                            {
                                "id": run["session_id"],
                                "agent_id": "agt_history",
                                "user_id": user,
                                "created_at": run["created_at"],
                                "updated_at": run["ended_at"],
                                "summary": None,
                                "summary_upto": 0,
                            }
                        )
                await conn.execute(insert(SessionRow), sessions)
                await conn.execute(insert(RunRow), runs)
                if logs:
                    await conn.execute(insert(RunEventRow), logs)
        if db.dialect == "postgresql":  # what autovacuum does on a server that has run a while
            async with db.engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
    finally:
        await db.dispose()
    return time.perf_counter() - started


async def _postgres(admin_url: str, statement: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(statement))
    finally:
        await conn.close()


async def backend_cpu(admin_url: str, database: str) -> dict[int, float]:
    """{pid: CPU seconds} of the PostgreSQL backends connected to `database` (on this
    machine): a query's work is done there, outside the Agio process."""
    rows = await _postgres(
        admin_url, f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}'"
    )
    found = {}
    for row in rows:
        try:
            found[int(row["pid"])] = cpu_seconds(int(row["pid"]))
        except FileNotFoundError:  # it has just ended
            continue
    return found


def start_server(
    tmp: Path, name: str, database_url: str | None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = server_env(tmp / name, tmp / "configs")
    if database_url:
        env["AGIO_DATABASE_URL"] = database_url
        # a pool that closes no connection under this load, so that every backend's CPU
        # is read at both ends of a scenario
        env["AGIO_DB_POOL_SIZE"] = "40"
    process = subprocess.Popen(
        [sys.executable, "-m", "agio", "serve", "--port", str(port)],
        env=env,
        cwd=tmp,
        stdout=subprocess.DEVNULL,  # the bootstrap banner
    )
    return process, f"http://127.0.0.1:{port}"


Figures = dict[tuple[str, int, str], list[float]]


async def measure(
    args: argparse.Namespace,
    servers: dict[str, tuple[subprocess.Popen[bytes], str, str]],
    urls: dict[str, str | None],
) -> dict[str, Figures]:
    """CPU ms per run of each scenario, server and round: the Agio process's, and on
    PostgreSQL also its database backends'."""
    cases = [
        (f"{'stream' if stream else 'non-stream'}, no tool", stream, concurrency)
        for concurrency in args.concurrency
        for stream in (False, True)
    ]
    figures: dict[str, Figures] = {"agio": {}, "database": {}}
    for round_ in range(args.rounds):
        # alternate which database goes first, so that drift in the machine's speed
        # during the benchmark falls on both alike
        order = ["empty", "seeded"] if round_ % 2 == 0 else ["seeded", "empty"]
        for label, stream, concurrency in cases:
            for name in order:
                process, base_url, key = servers[name]
                database = str(urls[name]).rpartition("/")[2]
                before = await backend_cpu(args.postgres, database) if args.postgres else {}
                result = await scenario(
                    base_url,
                    key,
                    process.pid,
                    label,
                    "bench_plain",
                    stream,
                    concurrency,
                    args.runs,
                    args.max_seconds,
                )
                if result.failures:
                    raise SystemExit(f"{name}: {result.failures} runs failed")
                figures["agio"].setdefault((label, concurrency, name), []).append(
                    result.cpu_ms_per_run
                )
                if args.postgres:
                    after = await backend_cpu(args.postgres, database)
                    spent = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
                    ran = result.runs + min(10, args.runs)  # `scenario` warms up with 10
                    figures["database"].setdefault((label, concurrency, name), []).append(
                        spent * 1000 / ran
                    )
    return figures


def report(title: str, figures: Figures, history: int) -> None:
    print()
    print(f"{title}: CPU ms per run")
    print()
    print(f"| scenario | concurrency | empty database | {history:,} stored runs | change |")
    print("|---|---|---|---|---|")
    for label, concurrency in dict.fromkeys((label, c) for label, c, _ in figures):
        empty = statistics.median(figures[(label, concurrency, "empty")])
        full = statistics.median(figures[(label, concurrency, "seeded")])
        print(
            f"| {label} | {concurrency} | {empty:.2f} | {full:.2f} | "
            f"{(full - empty) / empty * 100:+.1f} % |"
        )
    print()
    for (label, concurrency, name), values in figures.items():
        rounds = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {label}, c={concurrency}, {name}: {rounds}")


async def main_async(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="agio-history-"))
    fake_port = free_port()
    fake_url = f"http://127.0.0.1:{fake_port}/v1"
    write_configs(tmp / "configs", fake_url)
    urls: dict[str, str | None] = {"empty": None, "seeded": None}
    if args.postgres:
        base = args.postgres.rpartition("/")[0]
        for name in urls:
            database = f"agio_bench_{name}_{uuid.uuid4().hex[:8]}"
            await _postgres(args.postgres, f'CREATE DATABASE "{database}"')
            urls[name] = f"{base}/{database}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        fake = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "fake_openai.py"), "--port", str(fake_port)]
        )
        processes.append(fake)
        wait_ready(f"{fake_url}/models", fake)
        servers: dict[str, tuple[subprocess.Popen[bytes], str, str]] = {}
        for name, url in urls.items():
            process, base_url = start_server(tmp, name, url)
            processes.append(process)
            wait_ready(f"{base_url}/api/health", process)
            key = (tmp / name / "admin.key").read_text().strip()
            servers[name] = (process, base_url, key)
        seeded_url = urls["seeded"] or f"sqlite+aiosqlite:///{tmp / 'seeded' / 'agio.db'}"
        seconds = await seed(seeded_url, args.history, args.events)
        print(f"seeded {args.history:,} runs ({args.events} events each) in {seconds:.1f} s")
        figures = await measure(args, servers, urls)
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(f"{backend}; medians of {args.rounds} rounds of {args.runs} runs")
        report("Agio process", figures["agio"], args.history)
        if args.postgres:
            report("PostgreSQL backends", figures["database"], args.history)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        if args.postgres:
            for url in urls.values():
                database = str(url).rpartition("/")[2]
                await _postgres(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=100_000, help="ended runs to seed")
    parser.add_argument("--events", type=int, default=3, help="stored events per seeded run")
    parser.add_argument("--runs", type=int, default=300, help="runs per scenario and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16]
    )
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="PostgreSQL server (a database URL to connect for CREATE DATABASE) instead of "
        "SQLite; the two benchmark databases are created there and dropped afterwards",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
