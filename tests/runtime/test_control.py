"""Execution control through the API: pause, resume, cancel, checkpoints, restore, fork."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.runtime import sample_tools


async def put_config(client: httpx.AsyncClient, name: str, config: dict[str, Any]) -> None:
    response = await client.put(f"/api/config/{name}", json={"config": config})
    assert response.status_code in (200, 201), response.text


SLOW = {
    "type": "model",
    "provider": "scripted",
    "model": "s",
    "chunk_size": 5,
    "chunk_delay": 0.05,
    "responses": [
        {
            "content": "First I record it.",
            "tool_calls": [{"name": "record", "arguments": {"note": "A"}}],
        },
        {
            "content": "Then I calculate.",
            "tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}],
        },
        {"content": "All done: the answer is 42."},
    ],
}


@pytest.fixture
async def slow_agent(client: httpx.AsyncClient) -> str:
    await put_config(client, "slow_model", SLOW)
    await put_config(
        client,
        "slow_agent",
        {"type": "agent", "model": "slow_model", "tools": ["record", "calculator"]},
    )
    sample_tools.LEDGER.clear()
    return "slow_agent"


async def start(
    client: httpx.AsyncClient, agent: str, message: str = "go"
) -> tuple[asyncio.Task[httpx.Response], str]:
    before = {
        r["id"] for r in (await client.get("/api/runs", params={"limit": 100})).json()["items"]
    }
    task = asyncio.create_task(
        client.post("/api/chat", json={"agent_id": agent, "message": message, "stream": False})
    )
    for _ in range(200):
        items = (await client.get("/api/runs", params={"limit": 100})).json()["items"]
        new = [r["id"] for r in items if r["id"] not in before]
        if new:
            return task, new[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the run did not appear")


async def wait_status(client: httpx.AsyncClient, run_id: str, *wanted: str) -> dict[str, Any]:
    for _ in range(400):
        run = (await client.get(f"/api/runs/{run_id}")).json()
        if run["status"] in wanted:
            return run  # type: ignore[no-any-return]
        await asyncio.sleep(0.025)
    raise AssertionError(f"run stayed {run['status']}")


async def events(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    return (await client.get(f"/api/runs/{run_id}/events")).json()["events"]  # type: ignore[no-any-return]


async def paused_in_step_3(client: httpx.AsyncClient, agent: str, message: str = "go") -> str:
    """A run of `agent`, paused once its second model call (step 3) has begun."""
    task, run_id = await start(client, agent, message)
    for _ in range(400):
        log = await events(client, run_id)
        if any(e["type"] == "step_started" and e["data"]["step"] == 3 for e in log):
            break
        await asyncio.sleep(0.01)
    assert (await client.post(f"/api/runs/{run_id}/pause")).status_code == 200
    await task
    return run_id


def comparable(run: dict[str, Any]) -> list[Any]:
    return [
        (
            s["step_num"],
            s["type"],
            s["messages"],
            s["model_response"],
            [
                (t["call_id"], t["tool"], t["args"], t["result"], t["error"])
                for t in s["tool_calls"]
            ],
        )
        for s in run["steps"]
    ]


async def test_pause_then_resume_gives_the_same_run(
    client: httpx.AsyncClient, slow_agent: str
) -> None:
    reference_task, reference_id = await start(client, slow_agent)
    await reference_task
    reference = await wait_status(client, reference_id, "completed")
    sample_tools.LEDGER.clear()

    task, run_id = await start(client, slow_agent)
    await asyncio.sleep(0.12)  # inside the first model call's stream
    paused = await client.post(f"/api/runs/{run_id}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json() == {"run_id": run_id, "status": "paused", "message": "Run paused"}
    answer = (await task).json()
    assert answer["status"] == "paused"
    run = await wait_status(client, run_id, "paused")
    log = await events(client, run_id)
    assert log[-1]["type"] == "run_paused"
    assert any(e["type"] == "checkpoint_created" for e in log)
    await asyncio.sleep(0.2)
    assert (await client.get(f"/api/runs/{run_id}")).json()["last_seq"] == run["last_seq"]

    again = await client.post(f"/api/runs/{run_id}/pause")
    assert again.status_code == 409
    assert "paused" in again.json()["error"]["message"]
    resumed = await client.post(f"/api/runs/{run_id}/resume")
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "running"
    done = await wait_status(client, run_id, "completed")
    assert done["response_content"] == reference["response_content"]
    assert comparable(done) == comparable(reference)
    assert sample_tools.LEDGER == ["A"]  # the tool ran once
    log = await events(client, run_id)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert [e["type"] for e in log].count("run_resumed") == 1
    text = "".join(e["data"]["content"] for e in log if e["type"] == "content_delta")
    reference_text = "".join(
        e["data"]["content"]
        for e in await events(client, reference_id)
        if e["type"] == "content_delta"
    )
    assert text == reference_text  # nothing streamed twice, nothing missing


async def test_cancel_stops_a_slow_stream_within_a_second(client: httpx.AsyncClient) -> None:
    await put_config(
        client,
        "crawl",
        {
            "type": "model",
            "provider": "scripted",
            "model": "s",
            "chunk_size": 2,
            "chunk_delay": 0.5,
            "responses": [{"content": "x" * 200}],
        },
    )
    await put_config(client, "crawler", {"type": "agent", "model": "crawl"})
    task, run_id = await start(client, "crawler")
    await asyncio.sleep(0.7)
    started = time.perf_counter()
    response = await client.post(f"/api/runs/{run_id}/cancel")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert elapsed < 1.0, elapsed
    log = await events(client, run_id)
    assert log[-1]["type"] == "run_cancelled"
    assert log[-1]["data"] == {"run_id": run_id}
    cancelled_at = log[-1]["timestamp"]
    run = (await client.get(f"/api/runs/{run_id}")).json()
    assert run["status"] == "cancelled"
    assert run["response_content"].startswith("xx")  # what was produced is kept
    assert (await task).json()["status"] == "cancelled"
    assert cancelled_at
    # terminal states never change
    for action in ("pause", "resume", "cancel"):
        refused = await client.post(f"/api/runs/{run_id}/{action}")
        assert refused.status_code == 409
        assert refused.json()["error"]["type"] == "InvalidStateTransition"
        assert "cancelled" in refused.json()["error"]["message"]


async def test_illegal_transitions_are_409(client: httpx.AsyncClient, slow_agent: str) -> None:
    task, run_id = await start(client, slow_agent)
    await asyncio.sleep(0.05)
    resume = await client.post(f"/api/runs/{run_id}/resume")
    assert resume.status_code == 409
    assert "running" in resume.json()["error"]["message"] or (
        "pending" in resume.json()["error"]["message"]
    )
    await task
    await wait_status(client, run_id, "completed")
    pause = await client.post(f"/api/runs/{run_id}/pause")
    assert pause.status_code == 409
    assert "completed" in pause.json()["error"]["message"]
    assert (await client.post("/api/runs/run_nope/pause")).status_code == 404


async def test_cancel_a_paused_run(client: httpx.AsyncClient, slow_agent: str) -> None:
    task, run_id = await start(client, slow_agent)
    await asyncio.sleep(0.1)
    assert (await client.post(f"/api/runs/{run_id}/pause")).status_code == 200
    await task
    cancelled = await client.post(f"/api/runs/{run_id}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    log = await events(client, run_id)
    assert [e["type"] for e in log][-2:] == ["run_paused", "run_cancelled"]
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))


async def test_checkpoints_list_get_and_manual(client: httpx.AsyncClient, slow_agent: str) -> None:
    task, run_id = await start(client, slow_agent)
    await task
    run = await wait_status(client, run_id, "completed")
    listed = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()
    assert listed["run_id"] == run_id
    kinds = [c["kind"] for c in listed["checkpoints"]]
    assert kinds == ["start", "step", "step", "step", "step", "step"]
    assert [c["step_num"] for c in listed["checkpoints"]] == [0, 1, 2, 3, 4, 5]
    assert listed["total"] == 6
    first = listed["checkpoints"][0]
    assert set(first) >= {
        "id",
        "step_num",
        "description",
        "created_at",
        "message_count",
        "total_tokens",
    }
    detail = (await client.get(f"/api/checkpoints/{listed['checkpoints'][2]['id']}")).json()
    assert detail["run_id"] == run_id
    assert detail["step_num"] == 2
    assert detail["status"] == "running"
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "tool"]
    assert detail["agent_config"]["model"]["name"] == "slow_model"
    assert detail["metrics"]["tool_calls"] == 1
    manual = await client.post(
        f"/api/runs/{run_id}/checkpoints", json={"description": "before review", "tags": ["qa"]}
    )
    assert manual.status_code == 201
    assert manual.json()["description"] == "before review"
    assert manual.json()["tags"] == ["qa"]
    assert manual.json()["kind"] == "manual"
    assert manual.json()["step_num"] == 5
    assert (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["total"] == 7
    log = await events(client, run_id)
    assert log[-1]["type"] == "checkpoint_created"
    assert log[-1]["data"]["checkpoint_id"] == manual.json()["id"]
    assert (await client.get(f"/api/runs/{run_id}")).json()["status"] == run["status"]
    assert (await client.get("/api/checkpoints/ckpt_nope")).json()["error"]["type"] == (
        "CheckpointNotFound"
    )
    bad = await client.post(f"/api/runs/{run_id}/checkpoints", json={"owner": "x"})
    assert bad.status_code == 422


async def test_fork_leaves_the_source_untouched(client: httpx.AsyncClient, slow_agent: str) -> None:
    task, run_id = await start(client, slow_agent)
    await task
    await wait_status(client, run_id, "completed")
    checkpoints = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["checkpoints"]
    before = [
        (await client.get(path)).content
        for path in (
            f"/api/runs/{run_id}",
            f"/api/runs/{run_id}/events",
            f"/api/runs/{run_id}/checkpoints",
        )
    ]
    at_step_2 = checkpoints[2]["id"]  # after the first tool call
    fork = await client.post(
        f"/api/checkpoints/{at_step_2}/fork",
        json={
            "description": "terser",
            "modifications": {"system_prompt": "Be terse.", "temperature": 0.1, "max_steps": 5},
        },
    )
    assert fork.status_code == 200, fork.text
    body = fork.json()
    assert body["checkpoint_id"] == at_step_2
    forked = await wait_status(client, body["new_run_id"], "completed")
    assert forked["parent_run_id"] == run_id
    assert forked["forked_from_checkpoint_id"] == at_step_2
    assert forked["session_id"] != (await client.get(f"/api/runs/{run_id}")).json()["session_id"]
    assert forked["steps"][0]["step_num"] == 3
    assert forked["steps"][0]["messages"][0] == {
        "role": "system",
        "content": "Be terse.",
        "tool_calls": [],
        "tool_call_id": None,
        "name": None,
    }
    assert forked["agent_config"]["agent"]["config"]["temperature"] == 0.1
    assert forked["response_content"] == "All done: the answer is 42."
    assert sample_tools.LEDGER == ["A"]  # recorded before the checkpoint: not run again
    after = [
        (await client.get(path)).content
        for path in (
            f"/api/runs/{run_id}",
            f"/api/runs/{run_id}/events",
            f"/api/runs/{run_id}/checkpoints",
        )
    ]
    assert after == before  # byte for byte
    missing_model = await client.post(
        f"/api/checkpoints/{at_step_2}/fork", json={"modifications": {"model": "ghost"}}
    )
    assert missing_model.status_code == 422


async def test_restore_as_new_run_with_a_modified_query(
    client: httpx.AsyncClient, slow_agent: str
) -> None:
    task, run_id = await start(client, slow_agent, "original question")
    await task
    await wait_status(client, run_id, "completed")
    start_checkpoint = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["checkpoints"][
        0
    ]["id"]
    restored = await client.post(
        f"/api/checkpoints/{start_checkpoint}/restore",
        json={"create_new_run": True, "modifications": {"modified_query": "a better question"}},
    )
    assert restored.status_code == 200, restored.text
    new_id = restored.json()["new_run_id"]
    assert new_id != run_id
    run = await wait_status(client, new_id, "completed")
    assert run["input_query"] == "a better question"
    assert run["parent_run_id"] == run_id
    assert run["steps"][0]["messages"][-1]["content"] == "a better question"
    assert sample_tools.LEDGER == ["A", "A"]  # from the start: the tool runs again


async def test_restore_in_place_supersedes_later_steps(
    client: httpx.AsyncClient, slow_agent: str
) -> None:
    run_id = await paused_in_step_3(client, slow_agent)
    checkpoints = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["checkpoints"]
    step_1 = next(c for c in checkpoints if c["step_num"] == 1)
    restored = await client.post(
        f"/api/checkpoints/{step_1['id']}/restore", json={"create_new_run": False}
    )
    assert restored.status_code == 200, restored.text
    assert restored.json()["new_run_id"] == run_id
    run = await wait_status(client, run_id, "completed")
    assert [s["step_num"] for s in run["steps"]] == [1, 2, 3, 4, 5]
    assert [s["step_num"] for s in run["superseded_steps"]] == [2]
    log = await events(client, run_id)
    resumed = [e for e in log if e["type"] == "run_resumed"]
    assert resumed[0]["data"] == {"run_id": run_id, "checkpoint_id": step_1["id"], "restored": True}
    assert sample_tools.LEDGER == ["A", "A"]  # after step 1: the tool call is run again
    completed = await client.post(
        f"/api/checkpoints/{step_1['id']}/restore", json={"create_new_run": False}
    )
    assert completed.status_code == 409


def test_control_messages_name_the_request() -> None:
    """Regression: messages were built by cutting suffixes off status names."""
    from agio.api.routers.control import _control
    from agio.domain.runs import RunStatus

    recorded = _control("run_x", RunStatus.RUNNING, RunStatus.CANCELLED)
    assert recorded.message == "Run is running; the cancel request is recorded"
    assert _control("run_x", RunStatus.RUNNING, RunStatus.PAUSED).message == (
        "Run is running; the pause request is recorded"
    )
    assert _control("run_x", RunStatus.PAUSED, RunStatus.PAUSED).message == "Run paused"


async def test_a_lost_race_names_the_refused_action(
    client: httpx.AsyncClient, slow_agent: str
) -> None:
    """An idle transition that loses its race to a terminal state says what was refused."""
    from dataclasses import replace

    from agio.domain import events as ev
    from agio.domain.errors import InvalidStateTransition
    from agio.domain.runs import RunStatus

    task, run_id = await start(client, slow_agent)
    await task
    manager = client._transport.app.state.agio.run_manager  # type: ignore[attr-defined]
    stored = await manager.run_repo.get_run(run_id)
    assert stored is not None
    assert stored.status is RunStatus.COMPLETED
    stale = replace(stored, status=RunStatus.RUNNING)  # what a racing request had read
    with pytest.raises(InvalidStateTransition, match="Cannot pause run"):
        await manager._transition_idle(stale, RunStatus.PAUSED, ev.RUN_PAUSED)


async def test_a_modified_query_past_the_first_step_rewinds_to_that_question(
    client: httpx.AsyncClient,
) -> None:
    """From a checkpoint taken after the tool step that answered "6*7", a modified query
    asks the model the new question, with none of the old question's calls and results."""
    chat = {"agent_id": "customer_support", "message": "What is 6*7?", "stream": False}
    done = (await client.post("/api/chat", json=chat)).json()
    assert "42" in done["response"]
    checkpoints = (await client.get(f"/api/runs/{done['run_id']}/checkpoints")).json()
    after_tools = next(c for c in checkpoints["checkpoints"] if c["step_num"] == 2)
    detail = (await client.get(f"/api/checkpoints/{after_tools['id']}")).json()
    assert any(m["role"] == "tool" for m in detail["messages"])  # the old answer's result
    restored = await client.post(
        f"/api/checkpoints/{after_tools['id']}/restore",
        json={"create_new_run": True, "modifications": {"modified_query": "What is 7*8?"}},
    )
    assert restored.status_code == 200, restored.text
    run = await wait_status(client, restored.json()["new_run_id"], "completed")
    assert run["input_query"] == "What is 7*8?"
    assert "56" in run["response_content"]
    assert "42" not in run["response_content"]
    first = run["steps"][0]
    assert first["step_num"] == 1  # numbered from the question again
    assert first["messages"][-1]["content"] == "What is 7*8?"
    assert not any(m["role"] == "tool" for m in first["messages"])


async def test_a_modified_query_in_place_supersedes_what_answered_the_old_one(
    client: httpx.AsyncClient, slow_agent: str
) -> None:
    run_id = await paused_in_step_3(client, slow_agent, "the old question")
    checkpoints = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["checkpoints"]
    step_2 = next(c for c in checkpoints if c["step_num"] == 2)
    restored = await client.post(
        f"/api/checkpoints/{step_2['id']}/restore",
        json={"create_new_run": False, "modifications": {"modified_query": "the new question"}},
    )
    assert restored.status_code == 200, restored.text
    run = await wait_status(client, run_id, "completed")
    assert run["input_query"] == "the new question"
    assert [s["step_num"] for s in run["superseded_steps"]] == [1, 2]
    assert [s["step_num"] for s in run["steps"]] == [1, 2, 3, 4, 5]
    assert run["steps"][0]["messages"][-1]["content"] == "the new question"
    assert not any(m["role"] == "tool" for m in run["steps"][0]["messages"])
    assert sample_tools.LEDGER == ["A", "A"]  # the new question's own tool call
    # what it continued from is its checkpoint too (a crash right after would recover it)
    listed = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["checkpoints"]
    restore = next(c for c in listed if c["kind"] == "restore")
    detail = (await client.get(f"/api/checkpoints/{restore['id']}")).json()
    assert restore["step_num"] == 0
    assert detail["messages"][-1]["content"] == "the new question"
