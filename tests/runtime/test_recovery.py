"""Recovery of runs whose process went away: graceful hand-over, bounded recoveries,
and the `fail` recovery mode."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from agio.api.app import create_app
from agio.config.settings import Settings
from agio.domain.time import utcnow
from agio.storage.tables import RunRow
from tests.conftest import start_client

SLOW = {
    "type": "model",
    "provider": "scripted",
    "model": "s",
    "chunk_size": 2,
    "chunk_delay": 0.03,
    "responses": [{"content": "a slow and steady answer"}],
}


@pytest.fixture
def backend() -> str:
    return "sqlite"


WAITERS: list[asyncio.Task[Any]] = []


async def started_run(client: httpx.AsyncClient) -> str:
    await client.put("/api/config/steady_model", json={"config": SLOW})
    await client.put(
        "/api/config/slowpoke", json={"config": {"type": "agent", "model": "steady_model"}}
    )
    WAITERS.append(
        asyncio.create_task(
            client.post(
                "/api/chat", json={"agent_id": "slowpoke", "message": "go", "stream": False}
            )
        )
    )
    for _ in range(200):
        items = (await client.get("/api/runs")).json()["items"]
        if items and items[0]["status"] == "running":
            return items[0]["id"]  # type: ignore[no-any-return]
        await asyncio.sleep(0.01)
    raise AssertionError("no running run")


@pytest.fixture(autouse=True)
async def _stop_waiters() -> Any:
    yield
    for task in WAITERS:
        task.cancel()
    await asyncio.gather(*WAITERS, return_exceptions=True)
    WAITERS.clear()


async def wait_for(client: httpx.AsyncClient, run_id: str, status: str) -> dict[str, Any]:
    for _ in range(500):
        run = (await client.get(f"/api/runs/{run_id}")).json()
        if run["status"] == status:
            return run  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError(f"{run_id} is {run['status']}, not {status}")


async def test_shutdown_hands_runs_over_to_the_next_process(settings: Settings) -> None:
    first, lifespan = await start_client(create_app(settings))
    try:
        run_id = await started_run(first)
        await asyncio.sleep(0.15)
    finally:
        await first.aclose()
        await lifespan.__aexit__(None, None, None)  # graceful stop in the middle of the run
    second, lifespan2 = await start_client(create_app(settings))
    try:
        run = await wait_for(second, run_id, "completed")
        assert run["response_content"] == "a slow and steady answer"
        assert run["recovery_count"] == 1
        events = (await second.get(f"/api/runs/{run_id}/events")).json()["events"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        text = "".join(e["data"]["content"] for e in events if e["type"] == "content_delta")
        assert text == "a slow and steady answer"
    finally:
        await second.aclose()
        await lifespan2.__aexit__(None, None, None)


async def orphan(app: Any, run_id: str, recoveries: int, control: str | None) -> None:
    async with app.state.agio.db.write_sessions() as s, s.begin():
        await s.execute(
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(
                owner_id="proc_dead",
                heartbeat_at=utcnow() - timedelta(hours=1),
                recovery_count=recoveries,
                status="running",
                control=control,
            )
        )


@pytest.mark.parametrize(
    ("mode", "recoveries", "expected", "control"),
    [
        ("resume", 0, ("completed", None), None),
        ("resume", 3, ("failed", "RecoveryLimitExceeded"), None),
        ("fail", 0, ("failed", "RunInterrupted"), None),
        # asked of the dead owner before it died: applied by the process that recovers it
        ("resume", 0, ("cancelled", None), "cancel"),
        ("resume", 0, ("paused", None), "pause"),
    ],
)
async def test_orphaned_runs(
    make_settings: Callable[..., Settings],
    configs_dir: Path,
    tmp_path: Path,
    mode: str,
    recoveries: int,
    expected: tuple[str, str | None],
    control: str | None,
) -> None:
    settings = make_settings(
        configs_dir=configs_dir,
        run_recovery=mode,
        max_recoveries=3,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/o.db",
    )
    app = create_app(settings)
    client, lifespan = await start_client(app)
    try:
        run_id = await started_run(client)
        manager = app.state.agio.run_manager
        assert (await client.post(f"/api/runs/{run_id}/pause")).status_code == 200
        await orphan(app, run_id, recoveries, control)  # as if a dead process owned it
        assert await manager.recover() == 1
        run = await wait_for(client, run_id, expected[0])
        if expected[1]:
            assert run["error"]["type"] == expected[1]
            events = (await client.get(f"/api/runs/{run_id}/events")).json()["events"]
            assert events[-1]["type"] == "run_failed"
        else:
            assert run["recovery_count"] == 1
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
