"""Starting runs from components in memory (`Executions.start_chat`): a second chat with
the same agent reads no component; a change through the API is used by the next run at
once in the process that made it, by another process through Redis or the SQLite file's
change stamp, and without either once the cache's seconds are over; a disabled agent or
component is still a 409 and a deleted agent a 404."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import redis_settings, start_client


@contextmanager
def component_reads(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements that read the components table while inside."""
    seen: list[str] = []

    def before(*args: Any) -> None:
        if re.search(r"\bFROM components\b", args[2]):
            seen.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


def engine_of(app: FastAPI) -> AsyncEngine:
    engine: AsyncEngine = app.state.agio.db.engine
    return engine


async def chat(client: httpx.AsyncClient, message: str = "What is six times seven?") -> str:
    response = await client.post(
        "/api/chat", json={"agent_id": "spec_agent", "message": message, "stream": False}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    return str(response.json()["run_id"])


async def started_with(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """The components the run started with (its stored snapshot)."""
    response = await client.get(f"/api/runs/{run_id}")
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()["agent_config"]
    return config


async def set_prompt(client: httpx.AsyncClient, prompt: str) -> None:
    response = await client.patch("/api/agents/spec_agent", json={"system_prompt": prompt})
    assert response.status_code == 200, response.text


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15) -> None:
    """Wait (bounded) until `check` holds."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def two_apps(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """Two servers (containers) on the same database and settings, as two processes."""
    first, first_lifespan = await start_client(create_app(settings))
    second, second_lifespan = await start_client(create_app(settings))
    try:
        yield first, second
    finally:
        for client, lifespan in ((second, second_lifespan), (first, first_lifespan)):
            await client.aclose()
            await lifespan.__aexit__(None, None, None)


async def test_a_second_chat_reads_no_component(app: FastAPI, client: httpx.AsyncClient) -> None:
    with component_reads(engine_of(app)) as first:
        await chat(client)
    assert first  # the first run read its agent and components
    with component_reads(engine_of(app)) as second:
        await chat(client)
        await chat(client)
    assert second == []


async def test_a_change_is_used_by_the_next_run_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    before = await started_with(client, await chat(client))
    assert before["agent"]["system_prompt"] == ""
    await set_prompt(client, "Answer in French.")
    after = await started_with(client, await chat(client))
    assert after["agent"]["system_prompt"] == "Answer in French."

    model = (await client.get("/api/config/spec_script")).json()
    config = {k: v for k, v in model.items() if k not in ("id", "revision", "source")}
    config = {k: v for k, v in config.items() if k not in ("created_at", "updated_at")}
    response = await client.put(
        "/api/config/spec_script", json={"config": {**config, "chunk_size": 4}}
    )
    assert response.status_code == 200, response.text
    run_id = await chat(client)
    assert (await started_with(client, run_id))["model"]["chunk_size"] == 4
    events = (await client.get(f"/api/runs/{run_id}/events")).json()["events"]
    deltas = [e["data"]["content"] for e in events if e["type"] == "content_delta"]
    assert deltas[:2] == ["Let ", "me l"]  # the new model configuration ran


async def test_disabled_is_409_and_deleted_is_404(client: httpx.AsyncClient) -> None:
    await chat(client)  # everything in memory
    response = await client.patch("/api/agents/spec_agent", json={"enabled": False})
    assert response.status_code == 200, response.text
    body = {"agent_id": "spec_agent", "message": "hi", "stream": False}
    refused = await client.post("/api/chat", json=body)
    assert refused.status_code == 409, refused.text
    assert "disabled" in refused.text
    response = await client.patch("/api/agents/spec_agent", json={"enabled": True})
    assert response.status_code == 200, response.text
    await chat(client)

    tool = {"type": "tool", "name": "calculator", "kind": "builtin", "builtin": "calculator"}
    response = await client.put(
        "/api/config/calculator", json={"config": {**tool, "enabled": False}}
    )
    assert response.status_code == 200, response.text
    refused = await client.post("/api/chat", json=body)
    assert refused.status_code == 409, refused.text
    assert "tool component 'calculator' is disabled" in refused.text
    response = await client.put("/api/config/calculator", json={"config": tool})
    assert response.status_code == 200, response.text
    await chat(client)

    assert (await client.delete("/api/agents/spec_agent")).status_code == 204
    missing = await client.post("/api/chat", json=body)
    assert missing.status_code == 404, missing.text


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_change_reaches_another_process_through_redis(
    settings: Settings, redis_url: str
) -> None:
    # a cache that would never expire during the test: only the notice can tell B
    settings = settings.model_copy(
        update={**redis_settings(redis_url), "component_cache_seconds": 3600}
    )
    async with two_apps(settings) as (a, b):
        assert (await started_with(b, await chat(b)))["agent"]["system_prompt"] == ""
        await set_prompt(a, "Answer in French.")

        async def b_uses_it() -> bool:
            config = await started_with(b, await chat(b))
            return bool(config["agent"]["system_prompt"] == "Answer in French.")

        await eventually(b_uses_it)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_workers_on_a_sqlite_file_see_a_change_at_their_next_run(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"component_cache_seconds": 3600})  # no Redis
    async with two_apps(settings) as (a, b):
        await chat(b)
        await set_prompt(a, "Answer in French.")
        config = await started_with(b, await chat(b))
        assert config["agent"]["system_prompt"] == "Answer in French."


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_without_a_bus_the_cache_s_seconds_bound_what_another_process_misses(
    settings: Settings,
) -> None:
    async with two_apps(settings.model_copy(update={"component_cache_seconds": 3600})) as (a, b):
        await chat(b)
        await set_prompt(a, "Answer in French.")
        config = await started_with(b, await chat(b))
        assert config["agent"]["system_prompt"] == ""  # nothing told B: what it read

    async with two_apps(settings.model_copy(update={"component_cache_seconds": 0.3})) as (a, b):
        await chat(b)
        await set_prompt(a, "Answer in German.")

        async def b_uses_it() -> bool:
            config = await started_with(b, await chat(b))
            return bool(config["agent"]["system_prompt"] == "Answer in German.")

        await eventually(b_uses_it)
