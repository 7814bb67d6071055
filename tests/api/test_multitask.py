"""One conversation, one run at a time (SPEC §12) through `POST /api/chat`, on SQLite and
PostgreSQL: `reject` refuses a busy session with 409 SessionBusy naming its run in
progress (also under 20 concurrent chats: one run starts), `enqueue` runs the chats one
after the other in the order they came, `interrupt` cancels the run in progress and keeps
its partial answer in the session, `rollback` cancels it and keeps nothing of it."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import start_client
from tests.multitask_helpers import (
    SLOW_ANSWER,
    STEADY_ANSWER,
    chat,
    count_runs,
    run_of,
    session_messages,
    session_runs,
    slots_held,
    wait_for,
    write_components,
)


@pytest.fixture
def configs_dir(configs_dir: Path) -> Path:
    return write_components(configs_dir)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_active_runs_per_user": 100})


BACKGROUND: list[asyncio.Task[httpx.Response]] = []


@pytest.fixture(autouse=True)
async def _stop_background() -> Any:
    yield
    for task in BACKGROUND:
        task.cancel()
    await asyncio.gather(*BACKGROUND, return_exceptions=True)
    BACKGROUND.clear()


async def started(client: httpx.AsyncClient, agent: str, message: str, **body: Any) -> str:
    """A chat's run, once it exists (the chat's own request goes on in the background:
    the ASGI transport gives a response only once it is complete)."""
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
    """A session with one completed run."""
    first = await chat(client, agent, "hello")
    assert first.status_code == 200, first.text
    return first.json()["session_id"]  # type: ignore[no-any-return]


async def test_reject_names_the_run_in_progress_and_accepts_once_it_ended(
    client: httpx.AsyncClient,
) -> None:
    session_id = await new_session(client, "mt_slow_agent")
    busy_run = await started(client, "mt_slow_agent", "first", session_id=session_id)
    refused = await chat(client, "mt_slow_agent", "second", session_id=session_id)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["type"] == "SessionBusy"
    assert busy_run in error["message"]
    [detail] = error["details"]
    assert detail["session_id"] == session_id
    assert detail["run_id"] == busy_run
    assert detail["status"] in ("pending", "running")
    assert detail["queued"] is False
    # the default strategy is reject; saying so changes nothing
    explicit = await chat(
        client, "mt_slow_agent", "second", session_id=session_id, multitask_strategy="reject"
    )
    assert explicit.status_code == 409
    assert explicit.json()["error"]["details"][0]["run_id"] == busy_run
    done = await wait_for(client, busy_run, "completed")
    assert done["response_content"] == SLOW_ANSWER
    accepted = await chat(client, "mt_slow_agent", "third", session_id=session_id)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "completed"
    assert [r["input_query"] for r in await session_runs(client, session_id)] == [
        "hello",
        "first",
        "third",
    ]


async def test_a_new_session_is_never_busy(client: httpx.AsyncClient) -> None:
    runs = [await started(client, "mt_slow_agent", f"chat {i}") for i in range(3)]
    sessions = {(await run_of(client, r))["session_id"] for r in runs}
    assert len(sessions) == 3
    for run_id in runs:
        assert (await client.post(f"/api/runs/{run_id}/cancel")).status_code == 200


async def test_twenty_concurrent_chats_on_one_session_start_one_run(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    session_id = await new_session(client, "mt_slow_agent")
    answers = await asyncio.gather(
        *(chat(client, "mt_slow_agent", f"chat {i}", session_id=session_id) for i in range(20))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 19, [a.text for a in answers if a.status_code != 409]
    winner = next(a.json() for a in answers if a.status_code == 200)
    assert winner["status"] == "completed"
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["error"]["type"] == "SessionBusy"
    assert await count_runs(app, session_id) == 2  # the first and the one that won
    assert await slots_held(app) == {}


async def test_enqueue_runs_the_chats_one_by_one_in_the_order_they_came(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    session_id = await new_session(client, "mt_steady_agent")
    holder = await started(client, "mt_steady_agent", "holder", session_id=session_id)
    queued: list[str] = []
    for i in range(5):  # each answered at once: queued (or started) before the next comes
        queued.append(
            await started(
                client,
                "mt_steady_agent",
                f"queued {i}",
                session_id=session_id,
                multitask_strategy="enqueue",
            )
        )
    waiting = await run_of(client, queued[-1])
    assert waiting["status"] == "pending"
    assert waiting["queued"] is True
    # a queued run holds nothing to pause; a reject now is refused, naming the holder or
    # the next queued run
    assert (await client.post(f"/api/runs/{queued[-1]}/pause")).status_code == 409
    refused = await chat(client, "mt_steady_agent", "impatient", session_id=session_id)
    assert refused.status_code == 409
    assert refused.json()["error"]["details"][0]["run_id"] in [holder, *queued]
    runs = [await wait_for(client, r, "completed") for r in [holder, *queued]]
    assert [r["queued"] for r in runs] == [False] * 6
    for earlier, later in itertools.pairwise(runs):
        assert earlier["created_at"] < later["created_at"]
        assert earlier["ended_at"] <= later["started_at"]  # one at a time, in order
    assert all(r["response_content"] == STEADY_ANSWER for r in runs)
    # each run saw the answers of those before it: the whole conversation is there
    messages = await session_messages(client, session_id)
    assert [m["content"] for m in messages if m["role"] == "user"] == [
        "hello",
        "holder",
        *(f"queued {i}" for i in range(5)),
    ]
    last = (await client.get(f"/api/runs/{queued[-1]}")).json()
    seen = last["steps"][0]["messages"]
    assert [m["content"] for m in seen if m["role"] == "user"][-2:] == ["queued 3", "queued 4"]
    assert await slots_held(app) == {}


async def test_enqueue_on_a_free_session_starts_at_once(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client, "mt_steady_agent")
    answer = await chat(
        client, "mt_steady_agent", "now", session_id=session_id, multitask_strategy="enqueue"
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "completed"
    assert answer.json()["response"] == STEADY_ANSWER


async def test_a_queued_run_cancelled_is_skipped(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client, "mt_slow_agent")
    first = await started(client, "mt_slow_agent", "first", session_id=session_id)
    dropped, kept = [
        await started(
            client, "mt_slow_agent", m, session_id=session_id, multitask_strategy="enqueue"
        )
        for m in ("dropped", "kept")
    ]
    cancelled = await client.post(f"/api/runs/{dropped}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert (await run_of(client, kept))["queued"] is True
    assert (await wait_for(client, kept, "completed"))["response_content"] == SLOW_ANSWER
    dropped_run = await run_of(client, dropped)
    assert dropped_run["status"] == "cancelled"
    assert dropped_run["started_at"] is None
    assert (await run_of(client, first))["status"] == "completed"
    users = [
        m["content"] for m in await session_messages(client, session_id) if m["role"] == "user"
    ]
    assert users == ["hello", "first", "kept"]


@pytest.mark.parametrize("paused", [False, True], ids=["running", "paused"])
async def test_interrupt_keeps_the_partial_answer_in_the_session(
    app: FastAPI, client: httpx.AsyncClient, paused: bool
) -> None:
    session_id = await new_session(client, "mt_slow_agent")
    busy = await started(client, "mt_slow_agent", "tell me a story", session_id=session_id)
    await wait_for(client, busy, "running", deltas=3)
    if paused:
        assert (await client.post(f"/api/runs/{busy}/pause")).status_code == 200
    answer = await chat(
        client,
        "mt_slow_agent",
        "actually, stop",
        session_id=session_id,
        multitask_strategy="interrupt",
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "completed"
    interrupted = await run_of(client, busy)
    assert interrupted["status"] == "cancelled"
    partial = interrupted["response_content"]
    assert partial
    assert SLOW_ANSWER.startswith(partial)
    assert partial != SLOW_ANSWER
    messages = await session_messages(client, session_id)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "hello"),
        ("assistant", SLOW_ANSWER),
        ("user", "tell me a story"),
        ("assistant", partial),
        ("user", "actually, stop"),
        ("assistant", SLOW_ANSWER),
    ]
    # the new run was asked with the interrupted one's partial answer in its history
    new = (await client.get(f"/api/runs/{answer.json()['run_id']}")).json()
    assert [m["content"] for m in new["steps"][0]["messages"]][-3:] == [
        "tell me a story",
        partial,
        "actually, stop",
    ]
    assert await slots_held(app) == {}


async def test_rollback_leaves_nothing_of_the_run_in_the_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    session_id = await new_session(client, "mt_slow_agent")
    busy = await started(client, "mt_slow_agent", "tell me a story", session_id=session_id)
    await wait_for(client, busy, "running", deltas=3)
    answer = await chat(
        client, "mt_slow_agent", "never mind", session_id=session_id, multitask_strategy="rollback"
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "completed"
    assert (await run_of(client, busy))["status"] == "cancelled"
    messages = await session_messages(client, session_id)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "hello"),
        ("assistant", SLOW_ANSWER),
        ("user", "never mind"),
        ("assistant", SLOW_ANSWER),
    ]
    new = (await client.get(f"/api/runs/{answer.json()['run_id']}")).json()
    assert "tell me a story" not in [m["content"] for m in new["steps"][0]["messages"]]
    assert await slots_held(app) == {}


async def test_interrupt_on_a_free_session_just_runs(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client, "mt_steady_agent")
    answer = await chat(
        client, "mt_steady_agent", "go", session_id=session_id, multitask_strategy="interrupt"
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"] == STEADY_ANSWER


async def test_the_server_default_strategy_applies(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"multitask_strategy": "enqueue"}))
    client, lifespan = await start_client(app)
    try:
        session_id = await new_session(client, "mt_slow_agent")
        holder = await started(client, "mt_slow_agent", "one", session_id=session_id)
        second = await started(client, "mt_slow_agent", "two", session_id=session_id)
        assert (await run_of(client, second))["queued"] is True
        # a request's own strategy wins over the server's
        refused = await chat(
            client, "mt_slow_agent", "three", session_id=session_id, multitask_strategy="reject"
        )
        assert refused.status_code == 409
        assert (await client.post(f"/api/runs/{holder}/cancel")).status_code == 200
        done = await wait_for(client, second, "completed")
        assert done["started_at"] >= (await run_of(client, holder))["ended_at"]
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_an_unknown_strategy_is_a_validation_error(client: httpx.AsyncClient) -> None:
    answer = await chat(client, "mt_steady_agent", "x", multitask_strategy="shuffle")
    assert answer.status_code == 422
    assert answer.json()["error"]["type"] == "ValidationError"
    assert answer.json()["error"]["details"][0]["loc"] == ["body", "multitask_strategy"]


async def test_an_unknown_session_is_404_whatever_the_strategy(client: httpx.AsyncClient) -> None:
    for strategy in ("reject", "enqueue", "interrupt", "rollback"):
        answer = await chat(
            client, "mt_steady_agent", "x", session_id="ses_nope", multitask_strategy=strategy
        )
        assert answer.status_code == 404, (strategy, answer.text)
        assert answer.json()["error"]["type"] == "SessionNotFound"


def sse_events(body: str) -> list[tuple[int, str]]:
    """(id, event) of each SSE message of a stream's body."""
    out = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        fields = dict(line.split(": ", 1) for line in lines if ": " in line)
        if "event" in fields:
            out.append((int(fields["id"]), fields["event"]))
    return out


async def test_a_queued_chat_streams_its_run_from_its_start(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client, "mt_slow_agent")
    first = await started(client, "mt_slow_agent", "first", session_id=session_id)
    response = await client.post(  # the transport answers once the stream has ended
        "/api/chat",
        json={
            "agent_id": "mt_slow_agent",
            "message": "second",
            "session_id": session_id,
            "multitask_strategy": "enqueue",
        },
        timeout=60,
    )
    assert response.status_code == 200
    run_id = response.headers["x-run-id"]
    assert response.headers["x-session-id"] == session_id
    events = sse_events(response.text)
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    assert events[0][1] == "run_started"
    assert events[-1][1] == "run_completed"
    done = await run_of(client, run_id)
    assert done["started_at"] >= (await run_of(client, first))["ended_at"]
