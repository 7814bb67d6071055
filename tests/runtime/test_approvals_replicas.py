"""Approvals across processes (two `agio serve` on one PostgreSQL database and Redis): a
call waiting on a run that A started is approved on B, which continues the run, the tool
running once; a decision whose process died before it continued the run (written
straight into the database here) is picked up by the sweep, the tool again running
once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import create_async_engine

from tests.runtime.test_replicas import Cluster

pytestmark = pytest.mark.slow

COMPONENTS = [
    {
        "type": "model",
        "name": "asking_model",
        "provider": "scripted",
        "model": "s",
        "responses": [
            {"tool_calls": [{"name": "ledger", "arguments": {"note": "paid"}}]},
            {"content": "Paid."},
        ],
    },
    {
        "type": "agent",
        "name": "asking_agent",
        "model": "asking_model",
        "tools": ["ledger"],
        "config": {"approval": {"tools": ["ledger"]}},
    },
]


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str, module_redis_url: str
) -> Iterator[Cluster]:
    nodes = Cluster(tmp_path_factory.mktemp("approvals"), module_database_url, module_redis_url)
    (nodes.tmp / "configs" / "approvals.yaml").write_text(yaml.safe_dump(COMPONENTS))
    try:
        for name in ("a", "b"):
            nodes.start(name)
        nodes.wait_ready()
        yield nodes
    finally:
        nodes.stop()


def _waiting_run(pair: Cluster) -> tuple[str, str]:
    (pair.tmp / "ledger.txt").unlink(missing_ok=True)
    with pair.client("a") as a:
        answer = a.post(
            "/api/chat", json={"agent_id": "asking_agent", "message": "pay", "stream": False}
        ).json()
        assert answer["status"] == "waiting_approval", answer
        run_id = answer["run_id"]
        call_id = a.get(f"/api/runs/{run_id}/approvals").json()["items"][0]["call_id"]
        run = a.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "waiting_approval"
    return run_id, call_id


def _finished(pair: Cluster, node: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    with pair.client(node) as client:
        while True:
            run: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
            if run["status"] in ("completed", "failed", "cancelled"):
                return run
            assert time.monotonic() < deadline, run
            time.sleep(0.1)


async def _decide_in_the_database(url: str, run_id: str, call_id: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "UPDATE approvals SET decision = 'approve', decided_by = 'ada', "
                    "decided_at = now() WHERE run_id = :run AND call_id = :call"
                ),
                {"run": run_id, "call": call_id},
            )
    finally:
        await engine.dispose()


def _ledger(pair: Cluster) -> list[str]:
    path = pair.tmp / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_approve_on_b_a_call_waiting_on_a_run_started_on_a(pair: Cluster) -> None:
    run_id, call_id = _waiting_run(pair)
    with pair.client("b") as b:
        decided = b.post(f"/api/runs/{run_id}/approvals/{call_id}", json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    run = _finished(pair, "a", run_id)
    assert run["status"] == "completed", run
    assert _ledger(pair) == ["paid"]
    with pair.client("a") as a:
        log = a.get(f"/api/runs/{run_id}/events").json()["events"]
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert [e["type"] for e in log].count("approval_resolved") == 1


def test_a_decision_left_unfollowed_is_continued_by_the_sweep(
    pair: Cluster, module_database_url: str
) -> None:
    run_id, call_id = _waiting_run(pair)
    # as if the deciding process died right after committing its decision
    asyncio.run(_decide_in_the_database(module_database_url, run_id, call_id))
    run = _finished(pair, "b", run_id)  # a heartbeat period (lease 2 s / 3) later
    assert run["status"] == "completed", run
    assert _ledger(pair) == ["paid"]
