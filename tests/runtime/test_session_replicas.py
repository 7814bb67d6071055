"""Issue 16 across two real `agio serve` processes on one PostgreSQL database and Redis:
20 concurrent chats on one session, sent to both, start exactly one run (`reject`);
`enqueue`d chats run one by one in the order they were accepted; a schedule due while
both processes run fires exactly once."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import create_async_engine

from tests.runtime.test_replicas import Cluster

pytestmark = pytest.mark.slow

COMPONENTS = [
    {
        "type": "model",
        "name": "turn_model",
        "provider": "scripted",
        "model": "s",
        "chunk_size": 4,
        "chunk_delay": 0.05,
        "responses": [{"content": "One answer, a few words at a time, in order."}],
    },
    {"type": "agent", "name": "turn_agent", "model": "turn_model"},
]


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str, module_redis_url: str
) -> Iterator[Cluster]:
    nodes = Cluster(tmp_path_factory.mktemp("sessions"), module_database_url, module_redis_url)
    (nodes.tmp / "configs" / "turns.yaml").write_text(yaml.safe_dump(COMPONENTS))
    nodes.env["AGIO_SCHEDULER_POLL_SECONDS"] = "0.5"
    nodes.env["AGIO_MAX_ACTIVE_RUNS_PER_USER"] = "1000"
    try:
        for name in ("a", "b"):
            nodes.start(name)
        nodes.wait_ready()
        yield nodes
    finally:
        nodes.stop()


def _session(pair: Cluster) -> str:
    with pair.client("a") as a:
        first = a.post(
            "/api/chat", json={"agent_id": "turn_agent", "message": "hi", "stream": False}
        )
    assert first.status_code == 200, first.text
    return str(first.json()["session_id"])


async def _chats(pair: Cluster, session_id: str, count: int, **more: Any) -> list[httpx.Response]:
    async with httpx.AsyncClient(headers=pair.headers, timeout=60) as client:
        return await asyncio.gather(
            *(
                client.post(
                    f"{pair.urls['ab'[i % 2]]}/api/chat",
                    json={
                        "agent_id": "turn_agent",
                        "message": f"chat {i}",
                        "session_id": session_id,
                        "stream": False,
                        **more,
                    },
                )
                for i in range(count)
            )
        )


def _runs(pair: Cluster, **params: str) -> list[dict[str, Any]]:
    with pair.client("b") as b:
        page = b.get("/api/runs", params={"limit": 100, **params}).json()
    return list(page["items"])


def test_twenty_concurrent_chats_on_one_session_start_one_run(pair: Cluster) -> None:
    session_id = _session(pair)
    answers = asyncio.run(_chats(pair, session_id, 20))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [409] * 19, [r.text for r in answers if r.status_code != 409]
    assert all(r.json()["error"]["type"] == "SessionBusy" for r in answers if r.status_code == 409)
    assert len(_runs(pair, session_id=session_id)) == 2  # the first chat, and the one winner


async def _enqueue_one_by_one(pair: Cluster, session_id: str, count: int) -> list[str]:
    """`count` enqueued chats, alternately on each process, each sent once the one before
    is stored (its stream answered): the order they were created in is known (chats sent
    at the same moment to two processes are created in the order their inserts commit,
    which no test can predict). Their streams are left at once; the runs go on."""
    run_ids: list[str] = []
    async with httpx.AsyncClient(headers=pair.headers, timeout=60) as client:
        for i in range(count):
            async with client.stream(
                "POST",
                f"{pair.urls['ab'[i % 2]]}/api/chat",
                json={
                    "agent_id": "turn_agent",
                    "message": f"chat {i}",
                    "session_id": session_id,
                    "stream": True,
                    "multitask_strategy": "enqueue",
                },
            ) as response:
                assert response.status_code == 200, await response.aread()
                run_ids.append(response.headers["x-run-id"])
    return run_ids


def test_enqueued_chats_run_one_by_one_in_order(pair: Cluster) -> None:
    session_id = _session(pair)
    enqueued = asyncio.run(_enqueue_one_by_one(pair, session_id, 4))
    assert len(set(enqueued)) == 4
    deadline = time.monotonic() + 30
    while True:
        runs = _runs(pair, session_id=session_id)
        if all(r["status"] == "completed" for r in runs) and len(runs) == 5:
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.2)
    with pair.client("a") as a:
        detail = [a.get(f"/api/runs/{r['id']}").json() for r in runs]
    ordered = sorted(detail, key=lambda r: r["created_at"])
    assert [r["id"] for r in ordered][1:] == enqueued  # after the session's first chat
    starts = [r["started_at"] for r in ordered]
    assert starts == sorted(starts)  # in the order they were created
    for earlier, later in itertools.pairwise(ordered):
        assert earlier["ended_at"] <= later["started_at"], (earlier["id"], later["id"])


async def _due_now(url: str, schedule_id: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text("UPDATE schedules SET next_run_at = now() WHERE id = :id"),
                {"id": schedule_id},
            )
    finally:
        await engine.dispose()


def test_a_schedule_due_while_both_run_fires_once(pair: Cluster, module_database_url: str) -> None:
    with pair.client("a") as a:
        created = a.post(
            "/api/schedules",
            json={"agent_id": "turn_agent", "message": "tick", "cron": "0 3 1 1 *"},
        )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    asyncio.run(_due_now(module_database_url, schedule_id))  # due now, for both schedulers
    deadline = time.monotonic() + 20
    while not _runs(pair, schedule_id=schedule_id):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(2)  # four polls of each scheduler more: a second firing would show now
    runs = _runs(pair, schedule_id=schedule_id)
    assert len(runs) == 1, runs
    with pair.client("b") as b:
        schedule = b.get(f"/api/schedules/{schedule_id}").json()
    assert schedule["last_run_id"] == runs[0]["id"]
    assert schedule["next_run_at"] > schedule["last_run_at"]
