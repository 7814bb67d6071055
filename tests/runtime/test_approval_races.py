"""Approvals and run control racing each other (SPEC §11-12), each interleaving forced
where it can go wrong, on SQLite and PostgreSQL: a cancel meeting the run's continuation,
a flag set while a continued run goes live, a model that reuses its call ids, a run that
announced an approval before its process died, approvals of ended runs, and a tool of a
run whose creation was refused, and a chat whose caller goes away while its run's creation
commits."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from agio.domain.approvals import Decision
from agio.domain.errors import ValidationFailed
from agio.domain.time import utcnow
from agio.runtime.recovery import state_after
from agio.storage.tables import RunRow
from agio.storage.tables_approvals import ApprovalRow
from tests.runtime import sample_tools
from tests.runtime.test_approvals import chat, gated, waiting  # noqa: F401
from tests.runtime.test_control import events, put_config, wait_status

#: a gated `record` call, then an answer long and slow enough to be cancelled mid-way
SLOW_AFTER = {
    "type": "model",
    "provider": "scripted",
    "model": "s",
    "chunk_size": 2,
    "chunk_delay": 0.1,
    "responses": [
        {"tool_calls": [{"name": "record", "arguments": {"note": "A"}}]},
        {"content": "A slow answer, two letters every tenth of a second, to the end."},
    ],
}


async def gated_agent(client: httpx.AsyncClient, name: str, script: dict[str, Any]) -> str:
    """An agent `name` on the scripted model `script` whose `record` calls need approval."""
    await put_config(client, f"{name}_model", script)
    await put_config(
        client,
        name,
        {
            "type": "agent",
            "model": f"{name}_model",
            "tools": ["record"],
            "config": {"approval": {"tools": ["record"]}},
        },
    )
    sample_tools.LEDGER.clear()
    return name


async def slow_gated(client: httpx.AsyncClient) -> str:
    return await gated_agent(client, "slow_gated", SLOW_AFTER)


async def test_a_cancel_meeting_the_continuation_cancels_the_continued_run(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The cancel reads the run waiting (nobody executes it); before its conditional
    change lands, the decision's continuation claims the run here. The cancel starts
    over and stops the running run: no 409, and the approved call ran at most once."""
    run_id, call_id = await waiting(client, await slow_gated(client))
    manager = app.state.agio.run_manager
    await manager.approvals.repo.decide(run_id, call_id, Decision.APPROVE, by="u", now=utcnow())
    runs = manager.control.runs
    transition = runs.transition
    continued: list[bool] = []

    async def continued_first(*args: Any, **kwargs: Any) -> bool:
        if not continued:  # the continuation wins the race, once
            continued.append(await manager.approvals.continue_if_decided(run_id))
        return await transition(*args, **kwargs)

    runs.transition = continued_first
    try:
        response = await client.post(f"/api/runs/{run_id}/cancel")
    finally:
        del runs.transition
    assert continued == [True]
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    run = await wait_status(client, run_id, "cancelled", "completed")
    assert run["status"] == "cancelled"
    assert sample_tools.LEDGER in ([], ["A"])
    log = await events(client, run_id)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))


async def test_a_flag_set_while_a_continued_run_goes_live_reaches_it(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A cancel through the durable flag (as a request on another process sends it,
    having read the run as this process's) lands after the continuation's claim and
    before the run is live: the run, once live, still sees it."""
    run_id, call_id = await waiting(client, await slow_gated(client))
    manager = app.state.agio.run_manager
    executions = manager.executions
    await manager.approvals.repo.decide(run_id, call_id, Decision.APPROVE, by="u", now=utcnow())
    continue_from = executions.continue_from
    leases = manager.leases
    apply_controls = leases._apply_controls

    async def flagged_meanwhile(*args: Any, **kwargs: Any) -> None:
        await set_control(app, run_id, "cancel")
        await continue_from(*args, **kwargs)

    async def not_yet() -> None:  # the maintenance looks at the flags when the test says
        return None

    executions.continue_from = flagged_meanwhile
    leases._apply_controls = not_yet
    try:
        assert await manager.approvals.continue_if_decided(run_id) is True
        for _ in range(200):
            if run_id in executions.live:
                break
            await asyncio.sleep(0.01)
        await executions.writer.flush()  # what it wrote going live is stored
        assert await executions.runs.controls_for(executions.owner_id) == {run_id: "cancel"}
        await apply_controls()  # the maintenance's next look at the flags
    finally:
        del executions.continue_from
        del leases._apply_controls
    assert (await wait_status(client, run_id, "cancelled", "completed"))["status"] == "cancelled"


async def set_control(app: FastAPI, run_id: str, control: str) -> None:
    """The durable flag, as a request on another process sets it."""
    async with app.state.agio.db.write_sessions() as s, s.begin():
        await s.execute(update(RunRow).where(RunRow.id == run_id).values(control=control))


@pytest.mark.parametrize("how", ["decided", "resumed"])
async def test_a_flag_read_with_the_run_its_claimer_continues_is_applied(
    client: httpx.AsyncClient, app: FastAPI, how: str
) -> None:
    """A cancel sent to the run as it was being handed back (its flag set on the row it
    handed back): whoever continues the run reads the flag with it, and the claim that
    clears it applies it."""
    run_id, call_id = await waiting(client, await slow_gated(client))
    manager = app.state.agio.run_manager
    if how == "resumed":  # paused while waiting, then resumed (after the decision)
        assert (await client.post(f"/api/runs/{run_id}/pause")).status_code == 200
    await manager.approvals.repo.decide(run_id, call_id, Decision.APPROVE, by="u", now=utcnow())
    await set_control(app, run_id, "cancel")
    if how == "decided":
        # here, or by the maintenance's sweep (which finds decided runs) if it came first:
        # whichever claims the run read the flag with it, or saw its claim refused
        await manager.approvals.continue_if_decided(run_id)
    else:
        resumed = await client.post(f"/api/runs/{run_id}/resume")
        assert resumed.status_code == 200, resumed.text
    assert (await wait_status(client, run_id, "cancelled", "completed"))["status"] == "cancelled"


async def test_a_call_id_the_model_reuses_waits_for_its_own_decision(
    client: httpx.AsyncClient,
) -> None:
    """Some providers number their calls afresh in every answer: the run's second call
    with the same id is not taken for the first, already approved, one."""
    script = {
        "type": "model",
        "provider": "scripted",
        "model": "s",
        "responses": [
            {"tool_calls": [{"id": "call_0", "name": "record", "arguments": {"note": "A"}}]},
            {"tool_calls": [{"id": "call_0", "name": "record", "arguments": {"note": "B"}}]},
            {"content": "Both recorded."},
        ],
    }
    await gated_agent(client, "reusing", script)
    run_id, first = await waiting(client, "reusing")
    assert first == "call_0"
    decided = await client.post(
        f"/api/runs/{run_id}/approvals/{first}", json={"decision": "approve"}
    )
    assert decided.status_code == 200, decided.text
    await wait_status(client, run_id, "waiting_approval", "completed")
    for _ in range(200):  # it continued, ran A, and waits for B's decision
        pending = (await client.get("/api/approvals", params={"run_id": run_id})).json()["items"]
        if pending:
            break
        await asyncio.sleep(0.025)
    assert [(a["args"], a["status"]) for a in pending] == [({"note": "B"}, "pending")]
    second = pending[0]["call_id"]
    assert second != first
    assert sample_tools.LEDGER == ["A"]
    decided = await client.post(
        f"/api/runs/{run_id}/approvals/{second}", json={"decision": "approve"}
    )
    assert decided.status_code == 200, decided.text
    run = await wait_status(client, run_id, "completed", "failed")
    assert run["status"] == "completed", run
    assert sample_tools.LEDGER == ["A", "B"]
    log = await events(client, run_id)
    started = [e["data"]["call_id"] for e in log if e["type"] == "tool_call_started"]
    assert started == [first, second]


async def test_a_recovered_run_does_not_ask_again_for_what_it_asked(
    client: httpx.AsyncClient,
    app: FastAPI,
    gated: str,  # noqa: F811
) -> None:
    """Its process died after `approval_requested` and before the checkpoint of its
    wait: from the checkpoint before, the state rebuilt from the log knows it asked."""
    run_id, call_id = await waiting(client, gated)
    runs = app.state.agio.run_manager.executions.runs
    before = [c for c in await runs.list_checkpoints(run_id) if c.state["phase"] == "tools"]
    asked_at = next(
        e["seq"] for e in await events(client, run_id) if e["type"] == "approval_requested"
    )
    earlier = [c for c in before if c.seq < asked_at]
    assert earlier, [(c.kind, c.seq) for c in before]
    state = await state_after(runs, run_id, earlier[-1])
    assert state.approvals_requested == [call_id]
    assert state.approvals_resolved == []


async def test_an_ended_run_asks_for_nothing(
    client: httpx.AsyncClient,
    app: FastAPI,
    gated: str,  # noqa: F811
) -> None:
    run_id, _ = await waiting(client, gated)
    assert (await client.get("/api/approvals")).json()["items"]
    cancelled = await client.post(f"/api/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert (await client.get("/api/approvals")).json()["items"] == []
    assert (await client.get("/api/approvals", params={"run_id": run_id})).json()["items"] == []
    # nor does the expiry sweep decide for it
    async with app.state.agio.db.write_sessions() as s, s.begin():
        await s.execute(
            update(ApprovalRow)
            .where(ApprovalRow.run_id == run_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await app.state.agio.run_manager.approvals.sweep() == 0
    # the run's own list still shows what it was asked, undecided
    own = (await client.get(f"/api/runs/{run_id}/approvals")).json()["items"]
    assert [(a["status"], a["decided_by"]) for a in own] == [("pending", None)]


async def test_a_restore_in_place_asks_again_for_the_calls_it_undoes(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Approved and run after the checkpoint a run is restored to: the model says the same
    again, and the call (its id used already) is asked about again, not taken as
    approved, and runs only once approved again."""
    run_id, call_id = await waiting(client, await slow_gated(client))
    decided = await client.post(
        f"/api/runs/{run_id}/approvals/{call_id}", json={"decision": "approve"}
    )
    assert decided.status_code == 200, decided.text
    for _ in range(200):  # the approved call ran; the slow answer streams
        if sample_tools.LEDGER:
            break
        await asyncio.sleep(0.02)
    assert sample_tools.LEDGER == ["A"]
    assert (await client.post(f"/api/runs/{run_id}/pause")).status_code == 200
    checkpoints = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["checkpoints"]
    start = next(c["id"] for c in checkpoints if c["kind"] == "start")
    restored = await client.post(
        f"/api/checkpoints/{start}/restore", json={"create_new_run": False}
    )
    assert restored.status_code == 200, restored.text
    run = await wait_status(client, run_id, "waiting_approval", "completed")
    assert run["status"] == "waiting_approval"
    assert sample_tools.LEDGER == ["A"]
    pending = (await client.get("/api/approvals", params={"run_id": run_id})).json()["items"]
    assert len(pending) == 1
    assert pending[0]["call_id"] != call_id


async def test_no_tool_runs_for_a_run_whose_creation_was_refused(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new session's run starts while its creation commits; if the creation is refused
    (here: its new session's id is taken), its first tool call never runs."""
    await put_config(
        client,
        "eager_model",
        {
            "type": "model",
            "provider": "scripted",
            "model": "s",
            "responses": [
                {"tool_calls": [{"name": "record", "arguments": {"note": "X"}}]},
                {"content": "Recorded."},
            ],
        },
    )
    await put_config(
        client, "eager", {"type": "agent", "model": "eager_model", "tools": ["record"]}
    )
    taken = (await chat(client, "eager"))["session_id"]
    sample_tools.LEDGER.clear()
    import agio.runtime.launching as launching

    monkeypatch.setattr(launching, "new_id", lambda prefix: taken)
    executions = app.state.agio.run_manager.executions
    with pytest.raises(ValidationFailed, match="could not be stored"):
        await executions.start_chat("eager", "again", session_id=None, user_id=None)
    for task in list(executions.tasks.values()):
        await asyncio.wait([task], timeout=5)
    await asyncio.sleep(0.1)
    assert sample_tools.LEDGER == []


async def test_a_chat_whose_caller_goes_away_during_the_commit_still_runs(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """On an existing session the run's task starts once its creation is stored: a caller
    cancelled while that commits (a client gone) leaves no stored run without a task."""
    await put_config(
        client,
        "plain_model",
        {"type": "model", "provider": "scripted", "model": "s", "responses": [{"content": "Hi."}]},
    )
    await put_config(client, "plain", {"type": "agent", "model": "plain_model"})
    session_id = (await chat(client, "plain"))["session_id"]
    executions = app.state.agio.run_manager.executions
    flush = executions.writer.flush
    committing = asyncio.Event()

    async def slow_flush(run_id: str | None = None) -> None:
        if run_id is not None:
            committing.set()
            await asyncio.sleep(0.2)
        await flush(run_id)

    executions.writer.flush = slow_flush
    try:
        caller = asyncio.create_task(
            executions.start_chat("plain", "again", session_id=session_id, user_id=None)
        )
        await committing.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
    finally:
        del executions.writer.flush
    for _ in range(200):
        runs = (await client.get("/api/runs", params={"session_id": session_id})).json()["items"]
        if len(runs) == 2 and all(r["status"] == "completed" for r in runs):
            break
        await asyncio.sleep(0.025)
    assert [r["status"] for r in runs] == ["completed", "completed"], runs


async def test_a_run_stored_as_the_process_closes_is_handed_over_not_started(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A chat on an existing session whose creation commits after the process began to
    close: its task is not started (nothing would stop it), and the close hands the run
    over like the runs it stopped."""
    await put_config(
        client,
        "plain_model",
        {"type": "model", "provider": "scripted", "model": "s", "responses": [{"content": "Hi."}]},
    )
    await put_config(client, "plain", {"type": "agent", "model": "plain_model"})
    session_id = (await chat(client, "plain"))["session_id"]
    manager = app.state.agio.run_manager
    executions = manager.executions
    flush = executions.writer.flush

    async def closing_meanwhile(run_id: str | None = None) -> None:
        if run_id is not None:
            executions.stopping = True  # close() has begun
        await flush(run_id)

    executions.writer.flush = closing_meanwhile
    try:
        run = await executions.start_chat("plain", "again", session_id=session_id, user_id=None)
    finally:
        del executions.writer.flush
    assert run.id in executions.unlaunched
    assert run.id not in executions.tasks
    await manager.close()
    stored = await executions.runs.get_run(run.id)
    assert stored is not None
    assert (stored.status.value, stored.owner_id) == ("pending", None)
