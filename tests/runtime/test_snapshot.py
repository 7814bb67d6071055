"""Snapshots from the cache (`SnapshotCache`): an unchanged agent's runs share one
validated snapshot and read no component; a change to the agent or any component it names
makes a new one (and a disabled one is the 409 it was); secrets are put back from memory;
each run gets its own snapshot and JSON."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from agio.config.components import (
    MASK,
    AgentComponent,
    Component,
    ModelComponent,
    ToolComponent,
    dump_component,
    references,
)
from agio.domain.errors import Conflict
from agio.runtime.snapshot import AgentSnapshot, SnapshotCache, with_secrets
from agio.storage import migrate
from agio.storage.components import ComponentRepository, ComponentWrite, StoredComponent
from agio.storage.database import Database

MODEL = ModelComponent(name="m", provider="openai", model="gpt", api_key="sk-real")  # type: ignore[arg-type]
TOOL = ToolComponent(
    name="hook",
    kind="http",
    url="http://127.0.0.1:9/hook",
    headers={"Authorization": "Bearer real"},  # type: ignore[dict-item]
)
AGENT = AgentComponent(name="a", model="m", tools=["hook"], system_prompt="Be brief.")


def write(component: Component) -> ComponentWrite:
    return ComponentWrite(
        name=component.name,
        type=component.type,
        description=component.description,
        enabled=component.enabled,
        tags=list(component.tags),
        config=dump_component(component, reveal_secrets=True),
        refs=[name for _, name in references(component)],
        history_config=dump_component(component),
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await migrate.upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def repo(db: Database) -> ComponentRepository:
    repo = ComponentRepository(db, cache_seconds=60)
    await repo.create("mdl_m", write(MODEL), "t")
    await repo.create("tol_hook", write(TOOL), "t")
    await repo.create("agt_a", write(AGENT), "t")
    return repo


@contextmanager
def component_reads(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = db.engine.sync_engine

    def before(*args: Any) -> None:
        if re.search(r"\bFROM components\b", args[2]):
            seen.append(args[2])

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def agent(repo: ComponentRepository) -> StoredComponent:
    found = await repo.get("a", "agent", cached=True)
    assert found is not None
    return found


async def replace(repo: ComponentRepository, component: Component) -> None:
    current = await repo.get(component.name)
    assert current is not None
    await repo.replace(current, write(component), "t")


async def test_an_unchanged_agent_s_runs_share_one_snapshot(
    db: Database, repo: ComponentRepository
) -> None:
    cache = SnapshotCache()
    first = await cache.take(repo, await agent(repo))
    with component_reads(db) as reads:
        second = await cache.take(repo, await agent(repo))
    assert reads == []
    assert second is not first
    assert second.tools is not first.tools
    assert second.model is first.model
    assert second.agent is first.agent
    assert second.agent.system_prompt == "Be brief."
    assert second.model.api_key is not None
    assert second.model.api_key.get_secret_value() == "sk-real"  # for the run, in memory
    stored = second.to_json()
    assert stored == first.dump()
    assert stored["model"]["api_key"] == MASK  # what the run stores
    stored["agent"]["system_prompt"] = "changed by a caller"
    second.tools.clear()
    third = await cache.take(repo, await agent(repo))
    assert third.to_json()["agent"]["system_prompt"] == "Be brief."
    assert [t.name for t in third.tools] == ["hook"]


async def test_a_change_to_the_agent_or_a_component_makes_a_new_snapshot(
    repo: ComponentRepository,
) -> None:
    cache = SnapshotCache()
    first = await cache.take(repo, await agent(repo))
    await replace(repo, AGENT.model_copy(update={"system_prompt": "Be thorough."}))
    second = await cache.take(repo, await agent(repo))
    assert second.agent.system_prompt == "Be thorough."
    assert second.to_json()["agent"]["system_prompt"] == "Be thorough."
    assert second.model == first.model
    await replace(repo, MODEL.model_copy(update={"model": "gpt-2"}))
    third = await cache.take(repo, await agent(repo))
    assert third.model.model == "gpt-2"
    assert third.to_json()["model"]["model"] == "gpt-2"
    assert third.agent == second.agent

    await replace(repo, TOOL.model_copy(update={"enabled": False}))
    with pytest.raises(Conflict, match="tool component 'hook' is disabled"):
        await cache.take(repo, await agent(repo))
    await replace(repo, TOOL)
    assert [t.name for t in (await cache.take(repo, await agent(repo))).tools] == ["hook"]
    await replace(repo, AGENT.model_copy(update={"enabled": False}))
    with pytest.raises(Conflict, match="Agent 'a' is disabled"):
        await cache.take(repo, await agent(repo))


async def test_a_snapshot_s_json_follows_a_field_set_on_it(repo: ComponentRepository) -> None:
    snapshot = await SnapshotCache().take(repo, await agent(repo))
    snapshot.model = MODEL.model_copy(update={"model": "forked"})
    assert snapshot.to_json()["model"]["model"] == "forked"
    assert snapshot.to_json() == snapshot.dump()


async def test_secrets_are_put_back_from_memory(db: Database, repo: ComponentRepository) -> None:
    snapshot = await SnapshotCache().take(repo, await agent(repo))
    stored = AgentSnapshot.from_json(snapshot.to_json())  # as a recovered run reads it
    assert stored.model.api_key is not None
    assert stored.model.api_key.get_secret_value() == MASK
    with component_reads(db) as reads:
        model = await with_secrets(repo, stored.model, "model")
        tool = await with_secrets(repo, stored.tools[0], "tool")
        unmasked = await with_secrets(repo, snapshot.model, "model")
    assert reads == []
    assert model.api_key.get_secret_value() == "sk-real"
    assert tool.headers["Authorization"].get_secret_value() == "Bearer real"
    assert unmasked is snapshot.model  # nothing to put back: nothing looked up
