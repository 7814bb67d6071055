"""Agents as tools (SPEC §20): `agents:` on an agent, `ask_<name>` calls answered by child
runs, their events relayed into the parent's log, steering reaching the children,
tokens rolled up, and the validation of who may ask whom. Both databases."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from agio.storage.tables import RunRow
from tests.runtime import sample_tools
from tests.runtime.test_control import events, put_config, wait_status

CHILD_ANSWER = "Six times seven is 42."


def scripted(*responses: dict[str, Any], delay: float = 0.0, chunk: int = 4) -> dict[str, Any]:
    return {
        "type": "model",
        "provider": "scripted",
        "model": "s",
        "chunk_size": chunk,
        "chunk_delay": delay,
        "responses": list(responses),
    }


async def family(client: httpx.AsyncClient, *, child_delay: float = 0.0) -> None:
    """`boss` asks `helper` (which records a note, then answers), then answers itself."""
    await put_config(
        client,
        "helper_model",
        scripted(
            {"tool_calls": [{"name": "record", "arguments": {"note": "child"}}]},
            {"content": CHILD_ANSWER},
            delay=child_delay,
        ),
    )
    await put_config(
        client,
        "helper",
        {
            "type": "agent",
            "model": "helper_model",
            "tools": ["record"],
            "description": "Knows arithmetic.",
        },
    )
    await put_config(
        client,
        "boss_model",
        scripted(
            {
                "content": "Asking.",
                "tool_calls": [{"name": "ask_helper", "arguments": {"message": "6*7?"}}],
            },
            {"content": "The helper says 42."},
        ),
    )
    await put_config(client, "boss", {"type": "agent", "model": "boss_model", "agents": ["helper"]})
    sample_tools.LEDGER.clear()


async def start(
    client: httpx.AsyncClient, agent: str, message: str = "go"
) -> tuple[asyncio.Task[httpx.Response], str]:
    """A chat started in the background, and its run's id (not a child's)."""
    before = {
        r["id"] for r in (await client.get("/api/runs", params={"limit": 100})).json()["items"]
    }
    task = asyncio.create_task(
        client.post("/api/chat", json={"agent_id": agent, "message": message, "stream": False})
    )
    for _ in range(400):
        items = (await client.get("/api/runs", params={"limit": 100})).json()["items"]
        new = [r["id"] for r in items if r["id"] not in before and not r["parent_call_id"]]
        if new:
            return task, new[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the run did not appear")


def relayed(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in log if e["type"] == "child_event"]


async def test_a_call_of_ask_runs_the_agent_as_a_child(client: httpx.AsyncClient) -> None:
    await family(client)
    answer = (
        await client.post("/api/chat", json={"agent_id": "boss", "message": "go", "stream": False})
    ).json()
    assert answer["response"] == "The helper says 42.", answer
    run = (await client.get(f"/api/runs/{answer['run_id']}")).json()
    assert [c["agent_name"] for c in run["children"]] == ["helper"]
    child_ref = run["children"][0]
    assert child_ref["status"] == "completed"
    child = (await client.get(f"/api/runs/{child_ref['id']}")).json()
    assert child["parent_run_id"] == run["id"]
    assert child["parent_call_id"] == child_ref["call_id"]
    assert child["user_id"] == run["user_id"]
    assert child["session_id"] != run["session_id"]
    assert child["response_content"] == CHILD_ANSWER
    assert sample_tools.LEDGER == ["child"]

    log = await events(client, run["id"])
    child_log = await events(client, child["id"])
    # the parent's log is gapless, and relays the child's whole log, in order, once
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    inner = [e["data"]["event"] for e in relayed(log)]
    assert [(e["seq"], e["type"], e["data"]) for e in inner] == [
        (e["seq"], e["type"], e["data"]) for e in child_log
    ]
    assert {e["data"]["run_id"] for e in relayed(log)} == {child["id"]}
    assert {e["data"]["agent"] for e in relayed(log)} == {"helper"}
    # nested inside the call: after its start, before its end, whose result is the answer
    types = [e["type"] for e in log]
    started = types.index("tool_call_started")
    completed = types.index("tool_call_completed")
    positions = [i for i, t in enumerate(types) if t == "child_event"]
    assert started < positions[0]
    assert positions[-1] < completed
    assert log[completed]["data"]["result"] == CHILD_ANSWER
    assert log[started]["data"]["tool"] == "ask_helper"
    # tokens: the parent's own, and the tree's
    own = run["metrics"]["total_tokens"]
    assert run["metrics"]["children_tokens"] == child["metrics"]["total_tokens"] > 0
    assert run["metrics"]["tree_tokens"] == own + child["metrics"]["total_tokens"]


async def test_the_parents_stream_carries_the_childs_events(client: httpx.AsyncClient) -> None:
    await family(client)
    seen: list[tuple[str, dict[str, Any]]] = []
    async with client.stream(
        "POST", "/api/chat", json={"agent_id": "boss", "message": "go"}
    ) as response:
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                import json

                seen.append((event, json.loads(line.split(":", 1)[1])))
    kinds = [k for k, _ in seen]
    assert kinds[-1] == "run_completed"
    inner = [d["event"]["type"] for k, d in seen if k == "child_event"]
    assert inner[0] == "run_started"
    assert inner[-1] == "run_completed"
    assert "content_delta" in inner
    assert "tool_call_completed" in inner


async def test_who_may_ask_whom_is_validated(client: httpx.AsyncClient) -> None:
    await family(client)
    unknown = await client.put(
        "/api/config/asker",
        json={"config": {"type": "agent", "model": "boss_model", "agents": ["nobody"]}},
    )
    assert unknown.status_code == 422, unknown.text
    assert "nobody" in unknown.json()["error"]["message"]
    itself = await client.put(
        "/api/config/selfish",
        json={"config": {"type": "agent", "model": "boss_model", "agents": ["selfish"]}},
    )
    assert itself.status_code == 422, itself.text
    # helper asking boss would close a cycle: boss → helper → boss
    cycle = await client.put(
        "/api/config/helper",
        json={"config": {"type": "agent", "model": "helper_model", "agents": ["boss"]}},
    )
    assert cycle.status_code == 422, cycle.text
    assert "cycle" in cycle.json()["error"]["message"]
    via_agents_api = await client.post(
        "/api/agents", json={"name": "asker2", "model": "boss_model", "agents": ["nobody"]}
    )
    assert via_agents_api.status_code == 422, via_agents_api.text
    # an agent that is asked cannot be deleted from under its asker
    assert (await client.delete("/api/agents/helper")).status_code == 409
    shown = (await client.get("/api/agents/boss")).json()
    assert shown["agents"] == ["helper"]


async def test_the_depth_limit_holds_at_run_time(client: httpx.AsyncClient) -> None:
    """a → b → c → d → e: with the default AGIO_MAX_RUN_DEPTH=3, d (depth 3) may not
    start e; its call fails as a tool error and the chain still answers."""
    names = ["lvl_a", "lvl_b", "lvl_c", "lvl_d", "lvl_e"]
    await put_config(client, "leaf_model", scripted({"content": "leaf"}))
    await put_config(client, "lvl_e", {"type": "agent", "model": "leaf_model"})
    for name, below in reversed(list(itertools.pairwise(names))):
        await put_config(
            client,
            f"{name}_model",
            scripted(
                {"tool_calls": [{"name": f"ask_{below}", "arguments": {"message": "down"}}]},
                {"content": f"{name} done"},
            ),
        )
        await put_config(
            client, name, {"type": "agent", "model": f"{name}_model", "agents": [below]}
        )
    answer = (
        await client.post("/api/chat", json={"agent_id": "lvl_a", "message": "go", "stream": False})
    ).json()
    assert answer["response"] == "lvl_a done"
    run_id = answer["run_id"]
    chain = []
    for _ in range(4):
        run = (await client.get(f"/api/runs/{run_id}")).json()
        chain.append(run)
        if not run["children"]:
            break
        run_id = run["children"][0]["id"]
    assert [r["agent_name"] for r in chain] == ["lvl_a", "lvl_b", "lvl_c", "lvl_d"]
    assert chain[-1]["children"] == []
    deepest = await events(client, chain[-1]["id"])
    done = next(e for e in deepest if e["type"] == "tool_call_completed")
    assert "AGIO_MAX_RUN_DEPTH=3" in done["data"]["error"]
    # grandchildren's events reach the root nested: child_event in child_event
    root = await events(client, chain[0]["id"])
    nested = [
        e
        for e in relayed(root)
        if e["data"]["event"]["type"] == "child_event"
        and e["data"]["event"]["data"]["event"]["type"] == "child_event"
    ]
    assert nested
    assert nested[0]["data"]["event"]["data"]["event"]["data"]["agent"] == "lvl_d"


async def test_cancelling_the_parent_stops_the_child_mid_stream(
    client: httpx.AsyncClient,
) -> None:
    await family(client, child_delay=0.2)
    await put_config(
        client,
        "helper_model",
        scripted({"content": "slow words " * 40}, delay=0.2),
    )
    task, run_id = await start(client, "boss")
    child_id = await first_child(client, run_id, streaming=True)
    response = await client.post(f"/api/runs/{run_id}/cancel")
    assert response.status_code == 200, response.text
    # stopped within a second of the parent's cancel: polled, with that deadline
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.0
    child = (await client.get(f"/api/runs/{child_id}")).json()
    while child["status"] != "cancelled" and loop.time() < deadline:
        await asyncio.sleep(0.02)
        child = (await client.get(f"/api/runs/{child_id}")).json()
    assert child["status"] == "cancelled"
    child_log = await events(client, child_id)
    assert child_log[-1]["type"] == "run_cancelled"  # its log ends there: nothing after
    parent = await wait_status(client, run_id, "cancelled")
    assert parent["children"][0]["status"] == "cancelled"
    # stopped mid-stream: part of the answer was produced, not all of it
    assert child["response_content"]
    assert len(child["response_content"]) < len("slow words " * 40)
    await task


async def first_child(client: httpx.AsyncClient, run_id: str, *, streaming: bool = False) -> str:
    """The id of the run's first child, once it exists (and, with `streaming`, once it
    has streamed some text)."""
    for _ in range(400):
        run = (await client.get(f"/api/runs/{run_id}")).json()
        if run["children"]:
            child_id: str = run["children"][0]["id"]
            if not streaming:
                return child_id
            if any(e["type"] == "content_delta" for e in await events(client, child_id)):
                return child_id
        await asyncio.sleep(0.025)
    raise AssertionError("no child run appeared")


@pytest.mark.parametrize("rounds", [1, 2])
async def test_pause_at_a_childs_safe_point_then_resume(
    client: httpx.AsyncClient, rounds: int
) -> None:
    """Pausing the parent pauses the child; resuming gives the uninterrupted answer, the
    child's tool ran once and nothing was relayed twice."""
    await family(client, child_delay=0.05)
    uninterrupted = (
        await client.post("/api/chat", json={"agent_id": "boss", "message": "go", "stream": False})
    ).json()
    sample_tools.LEDGER.clear()
    task, run_id = await start(client, "boss")
    child_id = await first_child(client, run_id, streaming=True)
    for _ in range(rounds):
        paused = await client.post(f"/api/runs/{run_id}/pause")
        assert paused.status_code == 200, paused.text
        parent = await wait_status(client, run_id, "paused")
        assert (await client.get(f"/api/runs/{child_id}")).json()["status"] == "paused"
        checkpoint = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["checkpoints"][-1]
        detail = (await client.get(f"/api/checkpoints/{checkpoint['id']}")).json()
        assert parent["children"][0]["status"] == "paused"
        # the parent's checkpoint records its child, paused, and how far it was relayed
        (recorded,) = detail["children"].values()
        assert recorded["run_id"] == child_id
        assert recorded["status"] == "paused"
        child_log = await events(client, child_id)
        assert recorded["relayed_seq"] == child_log[-1]["seq"]
        assert (await client.post(f"/api/runs/{run_id}/resume")).status_code == 200
    await task
    done = await wait_status(client, run_id, "completed")
    assert done["response_content"] == uninterrupted["response"]
    assert sample_tools.LEDGER == ["child"]
    child = (await client.get(f"/api/runs/{child_id}")).json()
    assert child["status"] == "completed"
    assert child["response_content"] == CHILD_ANSWER
    log = await events(client, run_id)
    inner_seqs = [e["data"]["event"]["seq"] for e in relayed(log)]
    assert inner_seqs == list(range(1, len(await events(client, child_id)) + 1))
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert len(done["children"]) == 1


async def test_a_parent_that_fails_stops_its_children(client: httpx.AsyncClient, app: Any) -> None:
    """The parent ends `failed` while its child streams (here: the writer could not store
    the parent's writes, and stops it): nobody waits for the child any more, and it is
    cancelled rather than left running on its own."""
    await family(client)
    await put_config(client, "helper_model", scripted({"content": "slow words " * 40}, delay=0.2))
    task, run_id = await start(client, "boss")
    child_id = await first_child(client, run_id, streaming=True)
    manager = app.state.agio.run_manager
    manager.stop_failed({run_id: {"type": "StorageFailed", "message": "not stored"}})
    child = await wait_status(client, child_id, "cancelled", "completed")
    assert child["status"] == "cancelled"
    assert len(child["response_content"] or "") < len("slow words " * 40)
    await task


async def test_cancelling_an_ended_parent_still_stops_its_children(
    client: httpx.AsyncClient, app: Any
) -> None:
    """A parent that ended with a child left over: its cancel is refused (409, it ended),
    and the child is cancelled all the same."""
    await family(client)
    await put_config(client, "helper_model", scripted({"content": "slow words " * 40}, delay=0.2))
    task, run_id = await start(client, "boss")
    child_id = await first_child(client, run_id, streaming=True)
    manager = app.state.agio.run_manager
    manager.executions.children._parents.discard(run_id)  # as if it ended elsewhere
    manager.stop_failed({run_id: {"type": "StorageFailed", "message": "not stored"}})
    await task
    assert (await client.get(f"/api/runs/{child_id}")).json()["status"] == "running"
    async with app.state.agio.db.write_sessions() as s, s.begin():  # as the writer ends it
        await s.execute(update(RunRow).where(RunRow.id == run_id).values(status="failed"))
    response = await client.post(f"/api/runs/{run_id}/cancel")
    assert response.status_code == 409, response.text
    assert (await wait_status(client, child_id, "cancelled", "completed"))["status"] == "cancelled"


async def test_a_restore_in_place_cancels_the_children_it_goes_back_over(
    client: httpx.AsyncClient,
) -> None:
    """Paused with its child (paused too), the parent is restored in place to its start:
    the call that child answered is undone, so the child is cancelled, not left paused
    for ever; the call made again gets a child of its own."""
    await family(client)
    await put_config(client, "helper_model", scripted({"content": "slow words " * 40}, delay=0.1))
    task, run_id = await start(client, "boss")
    child_id = await first_child(client, run_id, streaming=True)
    assert (await client.post(f"/api/runs/{run_id}/pause")).status_code == 200
    await task
    assert (await client.get(f"/api/runs/{child_id}")).json()["status"] == "paused"
    checkpoints = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["checkpoints"]
    start_id = next(c["id"] for c in checkpoints if c["kind"] == "start")
    restored = await client.post(
        f"/api/checkpoints/{start_id}/restore", json={"create_new_run": False}
    )
    assert restored.status_code == 200, restored.text
    assert (await wait_status(client, child_id, "cancelled"))["status"] == "cancelled"
    parent = (await client.get(f"/api/runs/{run_id}")).json()
    for _ in range(400):
        parent = (await client.get(f"/api/runs/{run_id}")).json()
        if any(c["id"] != child_id for c in parent["children"]):
            break
        await asyncio.sleep(0.025)
    assert any(c["id"] != child_id for c in parent["children"])
    await client.post(f"/api/runs/{run_id}/cancel")


async def test_a_child_counts_against_its_users_active_runs(settings: Any) -> None:
    """With one active run allowed per user, the parent is that one: its child is refused
    (a tool error naming the limit), the parent goes on and completes."""
    from agio.api.app import create_app
    from tests.conftest import start_client

    app = create_app(settings.model_copy(update={"max_active_runs_per_user": 1}))
    client, lifespan = await start_client(app)
    try:
        await family(client)
        response = await client.post(
            "/api/chat", json={"agent_id": "boss", "message": "go", "stream": False}
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["status"] == "completed", answer
        run = (await client.get(f"/api/runs/{answer['run_id']}")).json()
        assert run["children"] == []
        done = [
            e for e in await events(client, answer["run_id"]) if e["type"] == "tool_call_completed"
        ]
        assert "AGIO_MAX_ACTIVE_RUNS_PER_USER" in done[0]["data"]["error"]
        assert sample_tools.LEDGER == []
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_a_late_pause_of_the_parents_is_undone_and_anyone_elses_is_not(
    client: httpx.AsyncClient, app: Any
) -> None:
    """The parent's own pause of its child can land after the parent resumed (the child
    in another process, its flag seen late): the parent resumes the child and goes on. A
    pause of the child by anyone else stands: the parent waits for it."""
    await family(client)
    await put_config(client, "helper_model", scripted({"content": "slow words " * 15}, delay=0.1))
    task, run_id = await start(client, "boss")
    child_id = await first_child(client, run_id, streaming=True)
    assert (await client.post(f"/api/runs/{child_id}/pause")).status_code == 200  # someone's
    await asyncio.sleep(0.5)
    assert (await client.get(f"/api/runs/{child_id}")).json()["status"] == "paused"
    assert (await client.get(f"/api/runs/{run_id}")).json()["status"] == "running"
    assert (await client.post(f"/api/runs/{child_id}/resume")).status_code == 200
    live = app.state.agio.run_manager.executions.live[run_id]
    record = next(iter(live.state.children.values()))
    record.paused_by_parent = True  # as if the parent's pause had been sent, and arrives now
    assert (await client.post(f"/api/runs/{child_id}/pause")).status_code == 200
    parent = await wait_status(client, run_id, "completed")
    assert (await client.get(f"/api/runs/{child_id}")).json()["status"] == "completed"
    assert parent["response_content"] == "The helper says 42."
    await task
