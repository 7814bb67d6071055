"""One run per session (SPEC §12) in the runtime, on SQLite and PostgreSQL: every way a run
ends gives its session back; the database itself refuses a second run on a held session
(no check before it: 20 concurrent creations, one run); a queued run survives the death
of the process whose run held its session (started by another instance's recovery or
maintenance); two server instances on one PostgreSQL with Redis keep the rule between
them, for `reject` under 20 concurrent chats and for `interrupt` across processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from agio.api.app import create_app
from agio.config.settings import Settings
from agio.domain.errors import SessionBusy
from agio.domain.messages import Message, ToolCall
from agio.domain.runs import Run, RunStatus
from agio.domain.time import utcnow
from agio.runtime.interrupted import NOT_RUN, kept_messages
from agio.runtime.state import RunState, ToolResult
from agio.storage.tables import RunRow
from tests.conftest import redis_settings, start_client
from tests.live import serve
from tests.multitask_helpers import (
    SLOW_ANSWER,
    chat,
    count_runs,
    run_of,
    session_messages,
    slots_held,
    stored_run,
    wait_for,
    write_components,
)


@pytest.fixture
def configs_dir(configs_dir: Path, backend: str) -> Path:
    return write_components(configs_dir, backend)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # `fail`: an orphan is failed (one of the ways a run ends), not continued
    return settings.model_copy(update={"max_active_runs_per_user": 100, "run_recovery": "fail"})


BACKGROUND: list[asyncio.Task[Any]] = []


@pytest.fixture(autouse=True)
async def _stop_background() -> AsyncIterator[None]:
    yield
    for task in BACKGROUND:
        task.cancel()
    await asyncio.gather(*BACKGROUND, return_exceptions=True)
    BACKGROUND.clear()


async def started(client: httpx.AsyncClient, agent: str, message: str, **body: Any) -> str:
    """A chat's run once it exists; its request goes on in the background."""
    listed = await client.get("/api/runs", params={"limit": 100})
    before = {r["id"] for r in listed.json()["items"]}
    task = asyncio.create_task(chat(client, agent, message, **body))
    BACKGROUND.append(task)
    for _ in range(1000):
        listed = await client.get("/api/runs", params={"limit": 100})
        new = [r["id"] for r in listed.json()["items"] if r["id"] not in before]
        if new:
            return new[0]  # type: ignore[no-any-return]
        if task.done():
            raise AssertionError(f"no run: {task.result().text}")
        await asyncio.sleep(0.01)
    raise AssertionError("the run did not appear")


async def new_session(client: httpx.AsyncClient, agent: str) -> str:
    first = await chat(client, agent, "hello")
    assert first.status_code == 200, first.text
    return first.json()["session_id"]  # type: ignore[no-any-return]


async def ended(app: FastAPI, run_id: str) -> RunRow:
    """The run's row once it has ended."""
    for _ in range(1000):
        row = await stored_run(app, run_id)
        if RunStatus(row.status).terminal:
            return row
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} is still {row.status}")


async def set_run(app: FastAPI, run_id: str, **values: Any) -> None:
    async with app.state.agio.db.write_sessions() as s, s.begin():
        await s.execute(update(RunRow).where(RunRow.id == run_id).values(**values))


# --------------------------------------------------------------------- every ending


class BlockedSetUp:
    """`go_live` that waits (so the run is cancelled while it is set up) or fails."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.entered = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        if self.fail:
            raise RuntimeError("no model today")
        await asyncio.Event().wait()


ENDINGS = {
    # name: (agent, expected status, expected error type)
    "complete": ("mt_steady_agent", "completed", None),
    "fail": ("mt_looping_agent", "failed", "MaxStepsExceeded"),
    "cancel_running": ("mt_slow_agent", "cancelled", None),
    "cancel_paused": ("mt_slow_agent", "cancelled", None),
    "cancel_while_set_up": ("mt_steady_agent", "cancelled", None),
    "set_up_failed": ("mt_steady_agent", "failed", "RunSetupFailed"),
    "orphan_failed": ("mt_slow_agent", "failed", "RunInterrupted"),
    "writer_failed": ("mt_poisoned_agent", "failed", "StorageFailed"),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
async def test_every_ending_gives_the_session_back(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    agent, status, error = ENDINGS[ending]
    # (through the database, not the API: on SQLite the writer-failure run's answer holds
    # a lone surrogate, which SQLite keeps in its events and steps and JSON cannot show)
    first = await started(client, agent, "hello")
    await ended(app, first)
    session_id = (await stored_run(app, first)).session_id
    manager = app.state.agio.run_manager
    blocked = BlockedSetUp(fail=ending == "set_up_failed")
    if ending in ("cancel_while_set_up", "set_up_failed"):
        monkeypatch.setattr("agio.runtime.launching.go_live", blocked)
    run_id = await started(client, agent, "go", session_id=session_id)
    assert (await slots_held(app)).get(run_id) in (session_id, None)  # held, or ended already
    if ending == "cancel_running":
        await wait_for(client, run_id, "running", deltas=2)
        assert await slots_held(app) == {run_id: session_id}
        assert (await client.post(f"/api/runs/{run_id}/cancel")).status_code == 200
    elif ending == "cancel_paused":
        await wait_for(client, run_id, "running", deltas=2)
        assert (await client.post(f"/api/runs/{run_id}/pause")).status_code == 200
        assert await slots_held(app) == {run_id: session_id}  # paused: still in progress
        assert (await client.post(f"/api/runs/{run_id}/cancel")).status_code == 200
    elif ending == "cancel_while_set_up":
        await blocked.entered.wait()
        assert run_id in manager.executions.tasks
        assert run_id not in manager.executions.live
        assert (await client.post(f"/api/runs/{run_id}/cancel")).status_code == 200
    elif ending == "orphan_failed":
        await wait_for(client, run_id, "running", deltas=2)
        assert (await client.post(f"/api/runs/{run_id}/pause")).status_code == 200
        # as if a process that died owned it
        await set_run(
            app,
            run_id,
            status="running",
            owner_id="proc_dead",
            heartbeat_at=utcnow() - timedelta(hours=1),
        )
        assert await manager.recover() == 1
    row = await ended(app, run_id)
    assert row.status == status
    assert (row.error or {}).get("type") == error
    assert row.session_slot is None
    assert await slots_held(app) == {}
    monkeypatch.undo()
    # the session is free for the next chat, under `reject`
    after = await started(client, agent, "next", session_id=session_id)
    assert (await ended(app, after)).session_id == session_id
    assert await slots_held(app) == {}


async def test_a_run_in_progress_holds_its_session_in_the_database(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    session_id = await new_session(client, "mt_slow_agent")
    run_id = await started(client, "mt_slow_agent", "go", session_id=session_id)
    assert await slots_held(app) == {run_id: session_id}
    other = await started(client, "mt_slow_agent", "elsewhere")  # a session of its own
    other_session = (await run_of(client, other))["session_id"]
    assert await slots_held(app) == {run_id: session_id, other: other_session}
    for r in (run_id, other):
        await client.post(f"/api/runs/{r}/cancel")
    assert await slots_held(app) == {}


# --------------------------------------------------------------------- the database decides


async def test_the_database_refuses_a_second_run_on_a_held_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """No check before the insert (the `reject` gate is left out): 20 concurrent creations
    on one session, and the unique index lets one through."""
    session_id = await new_session(client, "mt_slow_agent")
    executions = app.state.agio.run_manager.executions
    results = await asyncio.gather(
        *(
            executions.start_chat("mt_slow_agent", f"chat {i}", session_id=session_id, user_id=None)
            for i in range(20)
        ),
        return_exceptions=True,
    )
    runs = [r for r in results if isinstance(r, Run)]
    busy = [r for r in results if isinstance(r, SessionBusy)]
    assert len(runs) == 1, results
    assert len(busy) == 19, results
    [winner] = runs
    assert {b.run_id for b in busy} == {winner.id}
    assert await count_runs(app, session_id) == 2  # nothing of the refused ones is stored
    assert await slots_held(app) == {winner.id: session_id}
    # the refused runs never reached a model: only the winner executes
    assert set(executions.tasks) == {winner.id}
    await client.post(f"/api/runs/{winner.id}/cancel")


# --------------------------------------------------------------------- crashes


async def crash(app: FastAPI) -> None:
    """As if the process died: its runs stop where they are, nothing handed back and
    nothing more written, and it starts nothing more."""
    manager = app.state.agio.run_manager
    manager.executions.stopping = True
    tasks = list(manager.executions.tasks.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def instance(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    client, lifespan = await start_client(app)
    try:
        yield app, client
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.mark.parametrize("recovery", ["resume", "fail"])
async def test_a_queued_run_outlives_the_process_of_the_run_before_it(
    settings: Settings, recovery: str
) -> None:
    async with instance(settings) as (a, client_a):
        session_id = await new_session(client_a, "mt_slow_agent")
        holder = await started(client_a, "mt_slow_agent", "holder", session_id=session_id)
        await wait_for(client_a, holder, "running", deltas=2)
        queued = await started(
            client_a, "mt_slow_agent", "queued", session_id=session_id, multitask_strategy="enqueue"
        )
        assert (await run_of(client_a, queued))["queued"] is True
        await crash(a)
        await set_run(a, holder, heartbeat_at=utcnow() - timedelta(hours=1))  # its lease ran out
    later = settings.model_copy(update={"run_recovery": recovery, "run_lease_seconds": 0.6})
    async with instance(later) as (_, client_b):
        first = await wait_for(client_b, holder, "completed", "failed")
        assert first["status"] == ("completed" if recovery == "resume" else "failed")
        second = await wait_for(client_b, queued, "completed")
        assert second["response_content"] == SLOW_ANSWER
        assert second["started_at"] >= first["ended_at"]
        contents = [m["content"] for m in await session_messages(client_b, session_id)]
        assert contents[-2:] == ["queued", SLOW_ANSWER]


async def test_maintenance_starts_the_queue_of_a_session_nobody_advanced(
    settings: Settings,
) -> None:
    """The run holding the session ended in a process that died before it could start the
    next one: another instance's periodic maintenance does."""
    # one lease for both: each sees the other's heartbeats as fresh
    settings = settings.model_copy(update={"run_lease_seconds": 0.6})
    async with instance(settings) as (b, client_b):
        async with instance(settings) as (a, client_a):
            session_id = await new_session(client_a, "mt_slow_agent")
            holder = await started(client_a, "mt_slow_agent", "holder", session_id=session_id)
            await wait_for(client_a, holder, "running", deltas=2)
            queued = await started(
                client_a,
                "mt_slow_agent",
                "queued",
                session_id=session_id,
                multitask_strategy="enqueue",
            )
            await crash(a)
            # its ending was stored, and then the process died
            await set_run(
                a,
                holder,
                status="failed",
                ended_at=utcnow(),
                owner_id=None,
                session_slot=None,
                error={"type": "RunInterrupted", "message": "gone"},
            )
        run = await wait_for(client_b, queued, "completed")
        assert run["response_content"] == SLOW_ANSWER
        assert await slots_held(b) == {}


# --------------------------------------------------------------------- two instances


@pytest.fixture
def pair(settings: Settings, redis_url: str) -> Iterator[tuple[str, str]]:
    """Two server instances on one PostgreSQL database, sharing a Redis bus."""
    shared = settings.model_copy(
        update={"auth_disabled": True, "run_recovery": "resume", **redis_settings(redis_url)}
    )
    with serve(create_app(shared)) as a, serve(create_app(shared)) as b:
        yield a, b


def http_chat(url: str, message: str, **body: Any) -> Callable[[httpx.AsyncClient], Any]:
    async def send(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(
            f"{url}/api/chat",
            json={"agent_id": "mt_slow_agent", "message": message, "stream": False, **body},
        )

    return send


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_two_instances_start_one_of_twenty_concurrent_chats(pair: tuple[str, str]) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=60) as client:
        first = await http_chat(a, "hi")(client)
        session_id = first.json()["session_id"]
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{(a, b)[i % 2]}/api/chat",
                    json={
                        "agent_id": "mt_slow_agent",
                        "message": f"chat {i}",
                        "session_id": session_id,
                        "stream": False,
                    },
                )
                for i in range(20)
            )
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [200] + [409] * 19, [r.text for r in answers if r.status_code != 409]
        assert all(
            r.json()["error"]["type"] == "SessionBusy" for r in answers if r.status_code == 409
        )
        winner = next(r.json() for r in answers if r.status_code == 200)
        assert winner["response"] == SLOW_ANSWER
        runs = (await client.get(f"{b}/api/runs", params={"session_id": session_id})).json()
        assert runs["total"] == 2


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_an_interrupt_sent_to_one_instance_stops_the_run_on_the_other(
    pair: tuple[str, str],
) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=60) as client:
        first = await http_chat(a, "hello")(client)
        session_id = first.json()["session_id"]
        async with client.stream(
            "POST",
            f"{a}/api/chat",
            json={"agent_id": "mt_slow_agent", "message": "tell me", "session_id": session_id},
        ) as response:
            holder = response.headers["x-run-id"]
            deltas = 0
            async for line in response.aiter_lines():
                deltas += line == "event: content_delta"
                if deltas >= 3:
                    break  # the run goes on without its stream
        answer = await http_chat(b, "stop", session_id=session_id, multitask_strategy="interrupt")(
            client
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "completed"
        interrupted = (await client.get(f"{b}/api/runs/{holder}")).json()
        assert interrupted["status"] == "cancelled"
        partial = interrupted["response_content"]
        assert partial
        assert SLOW_ANSWER.startswith(partial)
        messages = (await client.get(f"{a}/api/sessions/{session_id}")).json()["messages"]
        assert [(m["role"], m["content"]) for m in messages][2:] == [
            ("user", "tell me"),
            ("assistant", partial),
            ("user", "stop"),
            ("assistant", SLOW_ANSWER),
        ]


async def test_the_maintenance_frees_a_session_an_ended_run_kept(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """No write that ends a run may keep its session; if one ever did, the maintenance
    gives the session back instead of leaving it busy for ever."""
    first = await chat(client, "mt_steady_agent", "hello")
    session_id, run_id = first.json()["session_id"], first.json()["run_id"]
    await set_run(app, run_id, session_slot=session_id)  # what a forgetful write would leave
    refused = await chat(client, "mt_steady_agent", "again", session_id=session_id)
    assert refused.status_code == 409
    await app.state.agio.run_manager.queue.advance_all()
    assert await slots_held(app) == {}
    accepted = await chat(client, "mt_steady_agent", "again", session_id=session_id)
    assert accepted.status_code == 200, accepted.text


def test_an_interrupted_tool_round_is_closed_in_the_history() -> None:
    """What an interrupted run leaves in its session is a conversation a model accepts:
    every tool call it shows has its result (the one it had, or an error saying it never
    ran), and the streamed part of a model call is an assistant message."""
    calls = [
        ToolCall(id="c1", name="calculator", arguments={"expression": "1+1"}),
        ToolCall(id="c2", name="slow", arguments={}),
    ]
    in_tools = RunState(
        messages=[Message.system("be brief"), Message.user("go"), Message.assistant("sure", calls)],
        new_from=1,
        phase="tools",
        pending_tool_calls=calls,
        completed_tool_results=[ToolResult(call_id="c1", tool="calculator", result="2")],
    )
    kept = kept_messages(in_tools)
    assert [(m["role"], m["content"], m["tool_call_id"]) for m in kept] == [
        ("user", "go", None),
        ("assistant", "sure", None),
        ("tool", "2", "c1"),
        ("tool", '{"error": "' + NOT_RUN["error"] + '"}', "c2"),
    ]
    streaming = RunState(
        messages=[Message.user("tell me")], new_from=0, partial_content="Once upon"
    )
    assert [(m["role"], m["content"]) for m in kept_messages(streaming)] == [
        ("user", "tell me"),
        ("assistant", "Once upon"),
    ]
