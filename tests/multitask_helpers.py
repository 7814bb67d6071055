"""What the tests of one run per session (SPEC §12) share: scripted agents slow enough to
be caught in progress, a tool whose output no database stores, and small helpers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI
from sqlalchemy import func, select

from agio.storage.tables import RunRow

#: what the slow agent answers, two characters every 0.08 s: about two seconds
SLOW_ANSWER = "Once upon a time there was a run that took its time to answer."
#: what the steady agent answers, four characters every 0.02 s: a tenth of a second
STEADY_ANSWER = "a steady answer here."

COMPONENTS: list[dict[str, Any]] = [
    {
        "type": "model",
        "name": "mt_slow",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 2,
        "chunk_delay": 0.08,
        "responses": [{"content": SLOW_ANSWER}],
    },
    {"type": "agent", "name": "mt_slow_agent", "model": "mt_slow"},
    {
        "type": "model",
        "name": "mt_steady",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 4,
        "chunk_delay": 0.02,
        "responses": [{"content": STEADY_ANSWER}],
    },
    {"type": "agent", "name": "mt_steady_agent", "model": "mt_steady"},
    {
        # asks for a tool at every call: with max_steps 1 it fails (MaxStepsExceeded)
        "type": "model",
        "name": "mt_looping",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 4,
        "chunk_delay": 0.02,
        "responses": [
            {
                "content": "again",
                "tool_calls": [{"name": "calculator", "arguments": {"expression": "1+1"}}],
            }
        ],
    },
    {
        "type": "agent",
        "name": "mt_looping_agent",
        "model": "mt_looping",
        "tools": ["calculator"],
        "config": {"max_steps": 1},
    },
]


#: `mt_poisoned_agent`, whose run writes what the database refuses (the writer then
#: ends it `failed`, StorageFailed): a NUL in a tool's result on PostgreSQL, a lone
#: surrogate in its answer (a text column) on SQLite
POISONED: dict[str, list[dict[str, Any]]] = {
    "postgresql": [
        {
            "type": "model",
            "name": "mt_poisoner",
            "provider": "scripted",
            "model": "s",
            "chunk_size": 4,
            "chunk_delay": 0.02,
            "responses": [
                {"content": "calling", "tool_calls": [{"name": "mt_nul", "arguments": {}}]},
                {"content": "never said"},
            ],
        },
        {
            "type": "tool",
            "name": "mt_nul",
            "kind": "python",
            "import_path": "tests.runtime.sample_tools:unstorable",
        },
        {"type": "agent", "name": "mt_poisoned_agent", "model": "mt_poisoner", "tools": ["mt_nul"]},
    ],
    "sqlite": [
        {
            "type": "model",
            "name": "mt_poisoner",
            "provider": "scripted",
            "model": "s",
            "chunk_size": 4,
            "chunk_delay": 0.02,
            "responses": [{"content": "half \udc80 a character"}],
        },
        {"type": "agent", "name": "mt_poisoned_agent", "model": "mt_poisoner"},
    ],
}


def write_components(configs_dir: Path, backend: str | None = None) -> Path:
    components = COMPONENTS + (POISONED[backend] if backend else [])
    (configs_dir / "multitask.yaml").write_text(yaml.safe_dump(components))
    return configs_dir


async def chat(client: httpx.AsyncClient, agent: str, message: str, **body: Any) -> httpx.Response:
    """`POST /api/chat`, not streamed unless `body` says so."""
    return await client.post(
        "/api/chat",
        json={"agent_id": agent, "message": message, "stream": False, **body},
        timeout=60,
    )


async def run_of(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/runs/{run_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def wait_for(
    client: httpx.AsyncClient, run_id: str, *statuses: str, deltas: int = 0
) -> dict[str, Any]:
    """The run once it is in one of `statuses` (and, with `deltas`, has streamed that many
    `content_delta` events)."""
    run: dict[str, Any] = {}
    for _ in range(1500):
        run = await run_of(client, run_id)
        if run["status"] in statuses:
            if not deltas:
                return run
            events = (await client.get(f"/api/runs/{run_id}/events")).json()["events"]
            if sum(e["type"] == "content_delta" for e in events) >= deltas:
                return run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} stayed {run.get('status')}")


async def session_runs(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    """The session's runs, oldest first."""
    page = await client.get("/api/runs", params={"session_id": session_id, "limit": 100})
    return list(reversed(page.json()["items"]))


async def session_messages(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    return (await client.get(f"/api/sessions/{session_id}")).json()["messages"]  # type: ignore[no-any-return]


async def slots_held(app: FastAPI) -> dict[str, str]:
    """{run id: session id} of every run holding its session, read from the database."""
    async with app.state.agio.db.sessions() as s:
        rows = await s.execute(
            select(RunRow.id, RunRow.session_slot).where(RunRow.session_slot.is_not(None))
        )
        return {run_id: slot for run_id, slot in rows}


async def stored_run(app: FastAPI, run_id: str) -> RunRow:
    """The run's row as stored (not through the API)."""
    async with app.state.agio.db.sessions() as s:
        row = await s.get(RunRow, run_id)
        assert row is not None
        return row


async def count_runs(app: FastAPI, session_id: str) -> int:
    async with app.state.agio.db.sessions() as s:
        return int(
            await s.scalar(
                select(func.count()).select_from(RunRow).where(RunRow.session_id == session_id)
            )
            or 0
        )
