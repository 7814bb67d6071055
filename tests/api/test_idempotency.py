"""`Idempotency-Key` (SPEC §13), on SQLite and PostgreSQL: a repeat gets the first response
and starts nothing; another body with the same key is a 422; concurrent duplicates, in
one app or two on the same database, start one run; keys are per user; an expired key
is free again; a failed first request leaves the key free."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from httpx_sse import EventSource

from agio.api.app import create_app
from agio.api.schemas.agents import AgentCreate
from agio.config.settings import Settings
from agio.services.idempotency import IdempotencyService, fingerprint
from tests.conftest import add_user, start_client

KEY = "Idempotency-Key"

COMPONENTS: list[dict[str, Any]] = [
    {
        "type": "model",
        "name": "paced",
        "provider": "scripted",
        "model": "scripted",
        # slow enough that the duplicates of a request arrive while its run goes on
        "responses": [{"content": "One moment, please. Here is the answer."}],
        "chunk_size": 4,
        "chunk_delay": 0.02,
    },
    {"type": "agent", "name": "paced_agent", "model": "paced"},
]


@pytest.fixture
def configs_dir(configs_dir: Path) -> Path:
    (configs_dir / "idempotency.yaml").write_text(yaml.safe_dump(COMPONENTS))
    return configs_dir


def chat_body(message: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"agent_id": "paced_agent", "message": message, "stream": False, **extra}


async def run_count(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> int:
    response = await client.get("/api/runs", params={"limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


async def finished_run(client: httpx.AsyncClient) -> tuple[str, str]:
    """A completed run and its first checkpoint: (run id, checkpoint id)."""
    done = await client.post("/api/chat", json=chat_body("a run to branch from"))
    assert done.status_code == 200, done.text
    run_id = done.json()["run_id"]
    checkpoints = (await client.get(f"/api/runs/{run_id}/checkpoints")).json()["checkpoints"]
    return run_id, checkpoints[0]["id"]


# --------------------------------------------------------------------- a repeat


async def test_a_repeated_chat_returns_the_first_answer_and_starts_no_run(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/api/chat", json=chat_body(), headers={KEY: "chat-1"})
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert first.json()["status"] == "completed"
    # the same JSON spelled otherwise (order, spacing, a default written out) is the same
    same = json.dumps({"stream": False, "message": "hello", "agent_id": "paced_agent"}, indent=2)
    again = await client.post(
        "/api/chat",
        content=same,
        headers={KEY: "chat-1", "Content-Type": "application/json"},
    )
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await run_count(client) == 1
    # without the key, the same body is a new request
    other = await client.post("/api/chat", json=chat_body())
    assert other.json()["run_id"] != first.json()["run_id"]
    assert await run_count(client) == 2


async def test_a_repeat_while_the_first_run_goes_on_waits_for_the_same_run(
    client: httpx.AsyncClient,
) -> None:
    headers = {KEY: "while-running"}
    first = asyncio.create_task(client.post("/api/chat", json=chat_body(), headers=headers))
    while await run_count(client) == 0:  # the first request's run exists
        await asyncio.sleep(0.01)
    again = await client.post("/api/chat", json=chat_body(), headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == (await first).json()
    assert again.json()["response"] == "One moment, please. Here is the answer."
    assert await run_count(client) == 1


async def test_a_repeated_stream_replays_the_same_run_from_its_first_event(
    client: httpx.AsyncClient,
) -> None:
    async def stream() -> tuple[httpx.Headers, list[tuple[str, str, Any]]]:
        async with client.stream(
            "POST", "/api/chat", json=chat_body(stream=True), headers={KEY: "stream-1"}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [
                (sse.id, sse.event, json.loads(sse.data))
                async for sse in EventSource(response).aiter_sse()
                if sse.data
            ]
            return response.headers, events

    first_headers, first = await stream()
    again_headers, again = await stream()
    assert "Idempotent-Replayed" not in first_headers
    assert again_headers["Idempotent-Replayed"] == "true"
    assert again_headers["X-Run-ID"] == first_headers["X-Run-ID"]
    assert again_headers["X-Session-ID"] == first_headers["X-Session-ID"]
    assert [seq for seq, _, _ in again] == [str(n) for n in range(1, len(again) + 1)]
    assert first[0][1] == "run_started"
    assert first[-1][1] == "run_completed"
    assert again == first
    assert first[0][2]["run_id"] == first_headers["X-Run-ID"]
    assert await run_count(client) == 1


async def test_a_repeated_agent_creation_returns_the_same_agent(
    client: httpx.AsyncClient,
) -> None:
    body = {"name": "made_once", "model": "paced", "system_prompt": "Be brief."}
    first = await client.post("/api/agents", json=body, headers={KEY: "agent-1"})
    assert first.status_code == 201, first.text
    again = await client.post("/api/agents", json=body, headers={KEY: "agent-1"})
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # without the key it is a second creation: the name is taken
    assert (await client.post("/api/agents", json=body)).status_code == 409
    history = (await client.get("/api/config/made_once/history")).json()["history"]
    assert [e["change_type"] for e in history] == ["created"]


async def test_repeated_restores_and_forks_start_one_run_each(client: httpx.AsyncClient) -> None:
    _, checkpoint = await finished_run(client)
    restore = {"create_new_run": True, "modifications": {"modified_query": "again"}}
    fork = {"description": "a branch", "modifications": {"system_prompt": "Be terse."}}
    for action, body in (("restore", restore), ("fork", fork)):
        url = f"/api/checkpoints/{checkpoint}/{action}"
        first = await client.post(url, json=body, headers={KEY: f"{action}-1"})
        assert first.status_code == 200, first.text
        again = await client.post(url, json=body, headers={KEY: f"{action}-1"})
        assert again.status_code == 200, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert again.json()["new_run_id"] == first.json()["new_run_id"]
    assert await run_count(client) == 3  # the source, one restored, one forked


# --------------------------------------------------------------------- another request


async def test_the_same_key_with_another_body_is_a_422(client: httpx.AsyncClient) -> None:
    first = await client.post("/api/chat", json=chat_body("one"), headers={KEY: "reused"})
    assert first.status_code == 200, first.text
    for method, url, body in (
        ("POST", "/api/chat", chat_body("two")),
        ("POST", "/api/chat", chat_body("one", stream=True)),
        ("POST", "/api/agents", {"name": "reused_key", "model": "paced"}),
    ):
        reused = await client.request(method, url, json=body, headers={KEY: "reused"})
        assert reused.status_code == 422, reused.text
        error = reused.json()["error"]
        assert error["type"] == "IdempotencyKeyReused"
        assert error["path"] == url
        assert error["request_id"]
    assert await run_count(client) == 1
    assert (await client.get("/api/agents/reused_key")).status_code == 404


@pytest.mark.parametrize(
    "key",
    [
        "",  # empty
        "k" * 256,  # too long
        " leading-space",
        "trailing-space ",
        "tab\tinside",
        "caf\u00e9",  # not ASCII
    ],
)
async def test_a_key_that_is_not_1_to_255_printable_ascii_characters_is_a_422(
    client: httpx.AsyncClient, key: str
) -> None:
    response = await client.post(
        "/api/chat", json=chat_body(), headers=[(KEY.encode(), key.encode())]
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "ValidationError"
    assert error["details"][0]["loc"] == ["header", KEY]
    assert await run_count(client) == 0


async def test_the_longest_key_and_inner_spaces_are_accepted(client: httpx.AsyncClient) -> None:
    for key in ("k" * 255, "a key with ~ spaces & symbols!"):
        response = await client.post("/api/chat", json=chat_body(), headers={KEY: key})
        assert response.status_code == 200, response.text
    assert await run_count(client) == 2


# --------------------------------------------------------------------- concurrency


async def test_twenty_concurrent_duplicates_start_exactly_one_run(
    client: httpx.AsyncClient,
) -> None:
    responses = await asyncio.gather(
        *(
            client.post("/api/chat", json=chat_body(), headers={KEY: "concurrent"})
            for _ in range(20)
        )
    )
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    assert len({r.json()["run_id"] for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert all(r.json() == responses[0].json() for r in responses)
    assert await run_count(client) == 1


async def test_duplicates_reaching_two_apps_on_one_database_start_one_run(
    settings: Settings, app: FastAPI
) -> None:
    """Two apps on the same database stand for two processes: the database decides."""
    second_app = create_app(settings.model_copy(update={"data_dir": settings.data_dir}))
    first, first_life = await start_client(app)
    second, second_life = await start_client(second_app)
    try:
        responses = await asyncio.gather(
            *(
                client.post("/api/chat", json=chat_body(), headers={KEY: "two-apps"})
                for _ in range(10)
                for client in (first, second)
            )
        )
        assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
        assert len({r.json()["run_id"] for r in responses}) == 1
        assert await run_count(first) == await run_count(second) == 1
    finally:
        for client, life in ((first, first_life), (second, second_life)):
            await client.aclose()
            await life.__aexit__(None, None, None)


async def test_a_repeat_waits_for_a_claim_in_progress_then_replays_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A claim made elsewhere (another process handling the first request) holds the
    key: a repeat waits for its response, then gets it."""
    service: IdempotencyService = app.state.agio.idempotency
    admin = (await client.get("/api/auth/me")).json()
    body = {"name": "made_elsewhere", "model": "paced"}
    parsed = AgentCreate.model_validate(body).model_dump(mode="json", by_alias=True)
    claim = await service.claim(
        admin["user_id"], "elsewhere", fingerprint("POST", "/api/agents", parsed)
    )
    assert claim.replay is None
    repeat = asyncio.create_task(client.post("/api/agents", json=body, headers={KEY: "elsewhere"}))
    await asyncio.sleep(0.3)
    assert not repeat.done()  # it waits for the first request
    await claim.complete(201, {"stored": "elsewhere"})
    replayed = await repeat
    assert replayed.status_code == 201
    assert replayed.json() == {"stored": "elsewhere"}
    assert replayed.headers["Idempotent-Replayed"] == "true"


async def test_a_claim_still_in_progress_after_the_wait_is_a_409_with_retry_after(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"idempotency_wait_seconds": 0.2}))
    client, lifespan = await start_client(app)
    try:
        service: IdempotencyService = app.state.agio.idempotency
        admin = (await client.get("/api/auth/me")).json()
        body = {"name": "slow_elsewhere", "model": "paced"}
        parsed = AgentCreate.model_validate(body).model_dump(mode="json", by_alias=True)
        claim = await service.claim(
            admin["user_id"], "busy", fingerprint("POST", "/api/agents", parsed)
        )
        busy = await client.post("/api/agents", json=body, headers={KEY: "busy"})
        assert busy.status_code == 409, busy.text
        assert busy.json()["error"]["type"] == "IdempotencyKeyInProgress"
        assert int(busy.headers["Retry-After"]) >= 1
        await claim.release()  # the first request failed: the key is free
        created = await client.post("/api/agents", json=body, headers={KEY: "busy"})
        assert created.status_code == 201, created.text
        assert "Idempotent-Replayed" not in created.headers
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


# --------------------------------------------------------------------- scope and lifetime


async def test_two_users_with_the_same_key_are_independent(client: httpx.AsyncClient) -> None:
    _, alice = await add_user(client, "user")
    _, bob = await add_user(client, "user")
    answers = []
    for headers in (alice, bob):
        response = await client.post(
            "/api/chat", json=chat_body(), headers={**headers, KEY: "shared"}
        )
        assert response.status_code == 200, response.text
        assert "Idempotent-Replayed" not in response.headers
        answers.append(response.json())
    assert answers[0]["run_id"] != answers[1]["run_id"]
    assert await run_count(client, alice) == await run_count(client, bob) == 1
    # and each one's repeat is their own
    again = await client.post("/api/chat", json=chat_body(), headers={**bob, KEY: "shared"})
    assert again.json() == answers[1]


async def test_an_expired_key_starts_a_new_run(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"idempotency_ttl_seconds": 0.5}))
    client, lifespan = await start_client(app)
    try:
        first = await client.post("/api/chat", json=chat_body(), headers={KEY: "short-lived"})
        assert first.status_code == 200, first.text
        await asyncio.sleep(0.6)
        later = await client.post("/api/chat", json=chat_body(), headers={KEY: "short-lived"})
        assert later.status_code == 200, later.text
        assert "Idempotent-Replayed" not in later.headers
        assert later.json()["run_id"] != first.json()["run_id"]
        assert await run_count(client) == 2
        # an expired key may also be used for another request
        await asyncio.sleep(0.6)
        other = await client.post(
            "/api/chat", json=chat_body("something else"), headers={KEY: "short-lived"}
        )
        assert other.status_code == 200, other.text
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_a_failed_first_request_does_not_keep_the_key(client: httpx.AsyncClient) -> None:
    body = {"agent_id": "not_yet", "message": "hello", "stream": False}
    missing = await client.post("/api/chat", json=body, headers={KEY: "retry-me"})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "AgentNotFound"
    # the error is not replayed: the same request fails again for its own reason
    again = await client.post("/api/chat", json=body, headers={KEY: "retry-me"})
    assert again.status_code == 404
    assert "Idempotent-Replayed" not in again.headers
    created = await client.post("/api/agents", json={"name": "not_yet", "model": "paced"})
    assert created.status_code == 201, created.text
    # and once the cause is gone, the retry with the same key succeeds, once
    done = await client.post("/api/chat", json=body, headers={KEY: "retry-me"})
    assert done.status_code == 200, done.text
    assert "Idempotent-Replayed" not in done.headers
    replayed = await client.post("/api/chat", json=body, headers={KEY: "retry-me"})
    assert replayed.json() == done.json()
    assert await run_count(client) == 1


async def test_an_abandoned_claim_is_taken_over_after_it_goes_stale(app: FastAPI) -> None:
    """A process that died holding a claim does not block its key for the whole TTL."""
    async with app.router.lifespan_context(app):
        container = app.state.agio
        stale = IdempotencyService(
            container.idempotency._repo, ttl_seconds=60, wait_seconds=5, stale_seconds=0.2
        )
        held = await stale.claim("usr_x", "abandoned", "f" * 64)
        assert held.replay is None
        await asyncio.sleep(0.3)
        taken = await stale.claim("usr_x", "abandoned", "f" * 64)
        assert taken.replay is None  # claimed anew, not waited for
        await held.complete(200, {"late": True})  # the old claim's answer is refused
        await taken.complete(200, {"new": True})
        replay = (await stale.claim("usr_x", "abandoned", "f" * 64)).replay
        assert replay is not None
        assert replay.response_body == {"new": True}


async def test_expired_keys_are_purged_by_a_later_claim(app: FastAPI) -> None:
    async with app.router.lifespan_context(app):
        repo = app.state.agio.idempotency._repo
        short = IdempotencyService(repo, ttl_seconds=0.2, wait_seconds=1)
        done = await short.claim("usr_x", "old", "a" * 64)
        await done.complete(200, {"old": True})
        kept = IdempotencyService(repo, ttl_seconds=60, wait_seconds=1)
        await (await kept.claim("usr_x", "fresh", "b" * 64)).complete(200, {})
        await asyncio.sleep(0.3)
        assert await repo.get("usr_x", "old") is not None  # expired, not yet purged
        # a process's first claim purges every expired key, whoever's and whichever
        other = IdempotencyService(repo, ttl_seconds=60, wait_seconds=1)
        await other.claim("usr_y", "unrelated", "c" * 64)
        assert await repo.get("usr_x", "old") is None
        assert await repo.get("usr_x", "fresh") is not None
