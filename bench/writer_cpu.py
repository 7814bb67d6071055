"""CPU per run of the run writer's storage path: what `RunWriter` (with the Prometheus
`Telemetry.observe_events` hook, as `agio serve` attaches it) spends storing what one chat
run hands over, on SQLite and on PostgreSQL.

Each run writes what a non-streaming chat with the `demo` model writes (captured from
one): the run and its new session, a start checkpoint, the run started, a step started,
42 content deltas, the step, its completion, a step checkpoint, the run's update to
completed, two session messages, the run completed; with a flush where the runtime
waits for one. `--concurrency` runs at a time share the writer's batches, as under load.
CPU is the whole process's (`time.process_time`: the event loop and the writer's SQLite
thread), divided by the runs; the database server's own CPU (PostgreSQL) is not in it.

    .venv/bin/python bench/writer_cpu.py                   # --runs 400 --rounds 5
    .venv/bin/python bench/writer_cpu.py --backend sqlite

PostgreSQL: `AGIO_BENCH_POSTGRES_URL` (default
postgresql+asyncpg://postgres@127.0.0.1:5432/agio_bench_writer) names a database that
must not exist: it is created for the benchmark and dropped after it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from agio.bus.memory import InProcessBus
from agio.domain.events import Event
from agio.domain.runs import Run, RunStatus, Step
from agio.domain.time import utcnow
from agio.observability.prometheus import Telemetry
from agio.storage import migrate
from agio.storage.database import Database
from agio.storage.runs import new_run_rows
from agio.storage.writer import RunWriter

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/agio_bench_writer"
SYSTEM = "You are a helpful assistant. Answer briefly."
ANSWER = (
    "[demo model] You asked: “hello”. I am Agio's offline demo model and cannot really "
    "answer that. To get real answers, set OPENAI_API_KEY (or OPENAI_BASE_URL for Ollama, "
    "vLLM or a llama.cpp server) and point this agent's `model` at `openai`; the README "
    "shows how."
)
WORDS = [word + " " for word in ANSWER.split(" ")]


def _message(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content, "tool_calls": [], "tool_call_id": None, "name": None}


def _agent_config(agent_id: str) -> dict[str, Any]:
    """The snapshot of the `assistant` agent of configs/ (demo model, calculator)."""
    return {
        "agent_id": agent_id,
        "agent": {
            "name": "assistant",
            "description": "A general assistant with a calculator.",
            "model": "demo",
            "tools": ["calculator"],
            "memory": "conversation",
            "knowledge": None,
            "system_prompt": SYSTEM,
            "config": {
                "max_steps": 4,
                "temperature": None,
                "max_tokens": None,
                "tool_timeout": None,
                "max_parallel_tool_calls": 4,
            },
            "tags": ["demo"],
            "enabled": True,
            "type": "agent",
        },
        "model": {
            "name": "demo",
            "description": "Offline demo model (no key needed).",
            "enabled": True,
            "tags": ["demo", "offline"],
            "type": "model",
            "provider": "demo",
            "model": "demo",
            "base_url": None,
            "api_key": None,
            "temperature": None,
            "max_tokens": None,
            "timeout": 60.0,
            "max_retries": 2,
            "responses": None,
            "chunk_size": 8,
            "chunk_delay": 0.0,
        },
        "tools": [
            {
                "name": "calculator",
                "description": 'Evaluate an arithmetic expression such as "(2 + 3) * 4" exactly.',
                "enabled": True,
                "tags": [],
                "type": "tool",
                "kind": "builtin",
                "builtin": "calculator",
                "import_path": None,
                "url": None,
                "headers": {},
                "parameters": None,
                "timeout": 5.0,
                "options": {},
            }
        ],
        "memory": {
            "name": "conversation",
            "description": "The last 20 messages of the session go to the model.",
            "enabled": True,
            "tags": [],
            "type": "memory",
            "strategy": "buffer",
            "max_messages": 20,
            "max_tokens": 2000,
            "summary_model": None,
            "backend": "database",
            "ttl_seconds": 604800,
        },
        "knowledge": None,
    }


def _checkpoint(
    run_id: str, n: int, step: int, messages: list[dict[str, Any]], config: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": f"ckpt_{run_id[4:]}_{n}",
        "run_id": run_id,
        "step_num": step,
        "kind": "step" if step else "start",
        "description": "",
        "tags": [],
        "state": {
            "messages": messages,
            "new_from": 1,
            "phase": "llm",
            "step_num": step,
            "llm_calls": step,
            "step_open": False,
            "pending_tool_calls": [],
            "completed_tool_results": [],
            "partial_content": None,
            "metrics": {"prompt_tokens": 21, "completion_tokens": 65} if step else {},
        },
        "agent_config": config,
        "seq": 0 if not step else 45,
        "run_status": "running" if step else "pending",
        "message_count": len(messages),
        "total_tokens": 86 if step else 0,
        "created_at": utcnow(),
    }


async def _one_run(writer: RunWriter, telemetry: Telemetry, run_id: str) -> None:
    """What a non-streaming chat hands the writer, paced like one (a pause per chunk)."""
    session_id, agent_id = "ses_" + run_id[4:], "agt_bench"
    config = _agent_config(agent_id)
    now = utcnow()
    run = Run(
        id=run_id,
        agent_id=agent_id,
        agent_name="assistant",
        session_id=session_id,
        user_id="usr_bench",
        status=RunStatus.PENDING,
        input_query="hello",
        response_content=None,
        error=None,
        metrics={},
        agent_config=config,
        created_at=now,
        started_at=None,
        ended_at=None,
        last_seq=0,
    )
    telemetry.label_run(run_id, "assistant", "demo", frozenset({"calculator"}))
    messages = [_message("system", SYSTEM), _message("user", "hello")]
    writer.create_run(new_run_rows(run, new_session=True, owner_id="proc_bench"))
    writer.save_checkpoint(_checkpoint(run_id, 0, 0, messages, config))  # type: ignore[arg-type]
    await writer.flush()
    seq = 0

    def emit(type_: str, data: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        writer.append(Event(run_id, seq, type_, utcnow(), data))

    started = utcnow()
    writer.update_run(run_id, status="running", started_at=started, heartbeat_at=started)
    emit(
        "run_started",
        {
            "run_id": run_id,
            "agent_id": agent_id,
            "session_id": session_id,
            "timestamp": started.isoformat().replace("+00:00", "Z"),
        },
    )
    emit("step_started", {"step": 1, "type": "llm_call"})
    for word in WORDS:
        emit("content_delta", {"content": word})
        await asyncio.sleep(0)
    answer = _message("assistant", ANSWER)
    metrics = {"prompt_tokens": 21, "completion_tokens": 65, "total_tokens": 86, "duration": 0.0005}
    writer.save_step(
        Step(
            run_id=run_id,
            step_num=1,
            type="llm_call",
            messages=messages,
            model_response={**answer, "finish_reason": "stop", "usage": metrics},
            metrics=metrics,
            started_at=started,
            ended_at=utcnow(),
        )
    )
    emit("step_completed", {"step": 1, "metrics": metrics})
    checkpoint = _checkpoint(run_id, 1, 1, [*messages, answer], config)
    writer.save_checkpoint(checkpoint)  # type: ignore[arg-type]
    emit("checkpoint_created", {"checkpoint_id": checkpoint["id"], "step": 1})
    ended = utcnow()
    writer.update_run(
        run_id,
        response_content=ANSWER,
        status="completed",
        metrics={**metrics, "steps": 1, "tool_calls": 0},
        ended_at=ended,
        prompt_tokens=21,
        completion_tokens=65,
        total_tokens=86,
        duration=(ended - started).total_seconds(),
        owner_id=None,
    )
    writer.add_session_messages(
        [
            {"session_id": session_id, "run_id": run_id, "message": m, "created_at": ended}
            for m in (_message("user", "hello"), answer)
        ]
    )
    emit("run_completed", {"run_id": run_id, "response": ANSWER, "metrics": metrics})
    await writer.flush(run_id)


async def _round(writer: RunWriter, telemetry: Telemetry, runs: int, concurrency: int) -> float:
    """CPU milliseconds per run for `runs` runs, `concurrency` at a time."""
    prefix = os.urandom(6).hex()
    queue = iter(range(runs))

    async def worker() -> None:
        for i in queue:
            await _one_run(writer, telemetry, f"run_{prefix}{i:06d}")

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / runs * 1000


async def _bench(db: Database, runs: int, rounds: int, concurrency: int) -> list[float]:
    await migrate.upgrade(db)
    telemetry = Telemetry()
    writer = RunWriter(
        db, InProcessBus(), owner_id="proc_bench", on_stored=[telemetry.observe_events]
    )
    writer.start()
    try:
        await _round(writer, telemetry, max(20, runs // 10), concurrency)  # warm-up
        return [await _round(writer, telemetry, runs, concurrency) for _ in range(rounds)]
    finally:
        await writer.close()


def _report(backend: str, figures: list[float]) -> None:
    shown = ", ".join(f"{f:.2f}" for f in figures)
    print(
        f"{backend}: {statistics.median(figures):.2f} ms CPU per run "
        f"(median; min {min(figures):.2f}, rounds: {shown})"
    )


async def _postgres(url: str, runs: int, rounds: int, concurrency: int) -> list[float]:
    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise SystemExit("AGIO_BENCH_POSTGRES_URL names no database")
    admin = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database="postgres",
    )
    try:
        # the database is the benchmark's own: created here (failing if it exists), dropped
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            db = Database(url)
            try:
                return await _bench(db, runs, rounds, concurrency)
            finally:
                await db.dispose()
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def main(backends: list[str], runs: int, rounds: int, concurrency: int) -> None:
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
            try:
                _report("sqlite", await _bench(db, runs, rounds, concurrency))
            finally:
                await db.dispose()
    if "postgresql" in backends:
        url = os.environ.get("AGIO_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
        _report("postgresql", await _postgres(url, runs, rounds, concurrency))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--backend", choices=["sqlite", "postgresql", "both"], default="both", help="database"
    )
    parser.add_argument("--runs", type=int, default=400, help="runs per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8, help="runs at a time")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    asyncio.run(main(backends, args.runs, args.rounds, args.concurrency))
