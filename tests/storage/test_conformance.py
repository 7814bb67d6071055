"""Storage conformance: the same assertions, unchanged, against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import pytest

from agio.domain.errors import Conflict
from agio.storage import migrate
from agio.storage.components import ComponentRepository, ComponentWrite
from agio.storage.database import Database


@pytest.fixture
def repo(db: Database) -> ComponentRepository:
    return ComponentRepository(db)


def write(
    name: str,
    type_: str = "model",
    *,
    tags: list[str] | None = None,
    refs: list[str] | None = None,
    **config: Any,
) -> ComponentWrite:
    body = {"name": name, "type": type_, "tags": tags or [], **config}
    return ComponentWrite(
        name=name,
        type=type_,
        description=config.get("description", ""),
        enabled=True,
        tags=tags or [],
        config=body,
        refs=refs or [],
        history_config={**body, "masked": True},
    )


async def test_migrations_reach_head_and_are_idempotent(db: Database) -> None:
    head = migrate.head_revision()
    assert head is not None
    assert await migrate.current_revision(db) == head
    await migrate.upgrade(db)  # a second start-up changes nothing
    assert await migrate.current_revision(db) == head


async def test_create_get_by_id_and_name(repo: ComponentRepository) -> None:
    created = await repo.create("mdl_1", write("gpt", provider="demo", tags=["a", "b"]), "tester")
    assert created.revision == 1
    by_name = await repo.get("gpt")
    by_id = await repo.get("mdl_1")
    assert by_name == by_id
    assert by_name is not None
    assert by_name.config["provider"] == "demo"
    assert by_name.tags == ["a", "b"]
    assert by_name.created_at.tzinfo is not None
    assert by_name.created_at.utcoffset() == UTC.utcoffset(None)
    assert await repo.get("gpt", "agent") is None
    assert await repo.get("missing") is None


async def test_duplicate_name_is_a_conflict_across_types(repo: ComponentRepository) -> None:
    await repo.create("mdl_1", write("shared"), "t")
    with pytest.raises(Conflict, match="already exists"):
        await repo.create("tool_1", write("shared", "tool"), "t")
    assert (await repo.list_page()).total == 1


async def test_list_filters_and_pages(repo: ComponentRepository) -> None:
    for i in range(5):
        await repo.create(
            f"agt_{i}", write(f"agent{i}", "agent", tags=["even"] if i % 2 == 0 else ["odd"]), "t"
        )
    await repo.create("mdl_x", write("model-x", tags=["even"]), "t")
    assert (await repo.list_page()).total == 6
    agents = await repo.list_page(type_="agent", limit=2, offset=1)
    assert agents.total == 5
    assert [c.name for c in agents.items] == ["agent1", "agent2"]
    even_agents = await repo.list_page(type_="agent", tag="even")
    assert [c.name for c in even_agents.items] == ["agent0", "agent2", "agent4"]
    assert (await repo.list_page(tag="even")).total == 4
    assert (await repo.list_page(tag="none")).total == 0


async def test_replace_bumps_revision_and_records_history(repo: ComponentRepository) -> None:
    first = await repo.create("mdl_1", write("m", temperature=0.1), "alice")
    second = await repo.replace(first, write("m", temperature=0.2, tags=["new"]), "bob")
    assert second.revision == 2
    assert second.tags == ["new"]
    assert (await repo.get("m")).config["temperature"] == 0.2  # type: ignore[union-attr]
    history = await repo.history("m")
    assert [(h.change_type, h.actor, h.revision) for h in history] == [
        ("created", "alice", 1),
        ("updated", "bob", 2),
    ]
    assert history[1].old_config == history[0].new_config
    assert history[1].new_config is not None
    assert history[1].new_config["temperature"] == 0.2
    assert history[0].timestamp <= history[1].timestamp


async def test_stale_replace_is_a_conflict(repo: ComponentRepository) -> None:
    first = await repo.create("mdl_1", write("m"), "t")
    await repo.replace(first, write("m", temperature=1.0), "t")
    with pytest.raises(Conflict, match="changed or deleted"):
        await repo.replace(first, write("m", temperature=2.0), "t")
    assert (await repo.get("m")).config["temperature"] == 1.0  # type: ignore[union-attr]


async def test_concurrent_replaces_one_wins(repo: ComponentRepository) -> None:
    first = await repo.create("mdl_1", write("m"), "t")
    results = await asyncio.gather(
        *(repo.replace(first, write("m", n=i), "t") for i in range(4)), return_exceptions=True
    )
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    assert len(await repo.history("m")) == 2


async def test_references_block_delete_and_are_listed(repo: ComponentRepository) -> None:
    model = await repo.create("mdl_1", write("brain"), "t")
    await repo.create("tool_1", write("calc", "tool"), "t")
    agent = await repo.create("agt_1", write("bot", "agent", refs=["brain", "calc"]), "t")
    assert await repo.referenced_by("brain") == ["bot"]
    with pytest.raises(Conflict, match="still used by: bot"):
        await repo.delete(model, "t")
    await repo.delete(agent, "t")
    assert await repo.referenced_by("brain") == []
    await repo.delete(model, "t")
    assert await repo.get("brain") is None


async def test_reference_to_missing_component_is_refused_by_the_database(
    repo: ComponentRepository,
) -> None:
    with pytest.raises(Conflict):
        await repo.create("agt_1", write("bot", "agent", refs=["nothing"]), "t")
    assert await repo.get("bot") is None
    assert await repo.history("bot") == []


async def test_delete_keeps_history_and_the_name_can_be_reused(repo: ComponentRepository) -> None:
    created = await repo.create("mdl_1", write("m", tags=["x"]), "alice")
    await repo.delete(created, "bob")
    assert await repo.get("m") is None
    assert (await repo.list_page(tag="x")).total == 0
    history = await repo.history("m")
    assert [h.change_type for h in history] == ["created", "deleted"]
    assert history[1].new_config is None
    assert history[1].old_config == history[0].new_config
    again = await repo.create("mdl_2", write("m"), "carol")
    # the numbers go on from the deletion's, so that each names one entry of the history
    assert again.revision == 3
    history = await repo.history("m")
    assert [(h.change_type, h.revision) for h in history] == [
        ("created", 1),
        ("deleted", 2),
        ("created", 3),
    ]
    assert (await repo.revision("m", 1)) == history[0]
    assert (await repo.revision("m", 3)) == history[2]
    assert await repo.revision("m", 4) is None


async def test_types_of(repo: ComponentRepository) -> None:
    await repo.create("mdl_1", write("a"), "t")
    await repo.create("tool_1", write("b", "tool"), "t")
    assert await repo.types_of(["a", "b", "c"]) == {"a": "model", "b": "tool"}
    assert await repo.types_of([]) == {}


async def test_unicode_and_large_json_round_trip(repo: ComponentRepository) -> None:
    prompt = "Grüße 👋 " * 5000
    await repo.create(
        "agt_1", write("u", "agent", system_prompt=prompt, nested={"a": [1, 2.5, None]}), "t"
    )
    stored = await repo.get("u")
    assert stored is not None
    assert stored.config["system_prompt"] == prompt
    assert stored.config["nested"] == {"a": [1, 2.5, None]}


async def test_concurrent_start_ups_migrate_once(database_url: str) -> None:
    databases = [Database(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate.upgrade(d) for d in databases))
        assert await migrate.current_revision(databases[0]) == migrate.head_revision()
    finally:
        for d in databases:
            await d.dispose()


async def test_migrations_match_the_table_definitions(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from agio.storage.tables import SEARCH_INDEX_OBJECTS, Base

    def include(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        return name not in SEARCH_INDEX_OBJECTS  # the database's own full-text index

    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include}
        )
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
