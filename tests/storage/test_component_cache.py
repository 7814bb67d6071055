"""The component cache: copies, expiry, drops and notices (`ComponentCache`), and the
repository's cached reads on SQLite and PostgreSQL: what they read, and that every write
is seen at once here and by another process through the SQLite change stamp or, without
one, after the cache's seconds."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from agio.domain.components import StoredComponent
from agio.domain.time import utcnow
from agio.storage.change_stamp import ChangeStamp
from agio.storage.component_cache import TOPIC, ComponentCache, freeze, thaw
from agio.storage.components import ComponentRepository, ComponentWrite
from agio.storage.database import Database

LOST = "lost"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stored(name: str, revision: int = 1, *, type_: str = "model", **config: Any) -> StoredComponent:
    now = utcnow()
    return StoredComponent(
        id=f"id_{name}",
        name=name,
        type=type_,
        description="",
        enabled=True,
        tags=["t"],
        config={"name": name, "type": type_, "nested": {"list": [1, 2]}, **config},
        revision=revision,
        source="api",
        file_digest=None,
        created_at=now,
        updated_at=now,
    )


def config_of(cache: ComponentCache, key: str) -> dict[str, Any]:
    found = cache.get(key)
    assert found is not None
    return found.config


def filled(*components: StoredComponent, **options: Any) -> ComponentCache:
    cache = ComponentCache(options.pop("seconds", 60), **options)
    cache.put(components, cache.generation)
    return cache


# --------------------------------------------------------------------- the cache itself


def test_a_lookup_is_a_copy_the_caller_may_change() -> None:
    original = stored("m")
    cache = filled(original)
    original.config["nested"]["list"].append("changed by the reader of the database")
    first = cache.get("m")
    assert first is not None
    assert first.config["nested"] == {"list": [1, 2]}
    first.config["nested"]["list"].append(3)
    first.config["api_key"] = "x"
    first.tags.append("u")
    again = cache.get("m")
    assert again is not None
    assert again.config == {"name": "m", "type": "model", "nested": {"list": [1, 2]}}
    assert again.tags == ["t"]


def test_a_config_json_cannot_copy_exactly_is_deep_copied() -> None:
    assert freeze({"n": math.nan}) is None
    assert freeze({"big": 2**70}) is None
    assert freeze({"t": (1, 2)}) is None
    text = freeze({"a": [1, 2.5, None, "é"]})
    assert text is not None
    assert thaw(text) == {"a": [1, 2.5, None, "é"]}
    cache = filled(stored("m", big=2**70, nan=math.nan))
    first, second = cache.get("m"), cache.get("m")
    assert first is not None
    assert second is not None
    assert first.config["big"] == 2**70
    assert math.isnan(first.config["nan"])
    first.config["nested"]["list"].clear()
    assert second.config["nested"]["list"] == [1, 2]
    assert config_of(cache, "m")["nested"]["list"] == [1, 2]


def test_by_name_by_id_and_by_type() -> None:
    cache = filled(stored("m"), stored("a", type_="agent"))
    assert config_of(cache, "id_m")["name"] == "m"
    assert cache.get("a", "agent") is not None
    assert cache.get("a", "model") is None  # another type: the database answers
    assert cache.get("nothing") is None
    assert cache.revisions(["m", "a", "nothing"]) == {"m": ("id_m", 1), "a": ("id_a", 1)}


def test_entries_expire_after_the_seconds() -> None:
    clock = Clock()
    cache = filled(stored("m"), seconds=5, clock=clock)
    clock.now += 4.9
    assert cache.get("m") is not None
    clock.now += 0.1
    assert cache.get("m") is None
    assert len(cache) == 0


def test_zero_seconds_keeps_nothing() -> None:
    cache = filled(stored("m"), seconds=0)
    assert cache.get("m") is None
    assert cache.revisions(["m"]) == {}
    assert len(cache) == 0


def test_a_read_that_began_before_a_drop_stores_nothing() -> None:
    cache = ComponentCache(60)
    generation = cache.generation
    cache.forget(["m"])  # a write committed while the read was on its way
    cache.put([stored("m")], generation)
    assert cache.get("m") is None
    cache.put([stored("m")], cache.generation)
    assert cache.get("m") is not None


def test_the_least_recently_used_goes_first() -> None:
    cache = filled(stored("a"), stored("b"), max_entries=2)
    assert cache.get("a") is not None
    cache.put([stored("c")], cache.generation)
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert cache.get("id_b") is None


def test_a_change_is_dropped_here_and_told_to_the_others() -> None:
    told: list[tuple[str, dict[str, Any]]] = []
    handlers: list[Any] = []
    cache = filled(stored("a"), stored("b"))
    cache.changed(["a"])  # before the bus exists (the configs folder at start-up)
    assert cache.get("a") is None
    assert cache.get("b") is not None
    assert told == []

    def notify(topic: str, data: dict[str, Any]) -> None:
        told.append((topic, data))
        for handler in handlers:
            handler(topic, data)

    cache.connect(notify, handlers.append, lost_topic=LOST)
    assert told == [(TOPIC, {"names": ["a"]})]  # what changed before is told now
    cache.put([stored("a", 2)], cache.generation)
    cache.changed(["b"])
    assert told[-1] == (TOPIC, {"names": ["b"]})
    assert cache.get("b") is None
    assert cache.get("a") is not None


def test_notices_from_the_others() -> None:
    cache = filled(stored("a"), stored("b"), stored("c"))
    cache.connect(lambda topic, data: None, lambda handler: None, lost_topic=LOST)
    cache.on_notice(TOPIC, {"names": ["a"]})
    assert cache.get("a") is None
    assert cache.get("b") is not None
    cache.on_notice("auth_user_changed", {"names": ["b"]})  # another cache's topic
    assert cache.get("b") is not None
    cache.on_notice(TOPIC, {"all": True})
    assert len(cache) == 0
    cache.put([stored("a")], cache.generation)
    cache.on_notice(LOST, {})
    assert len(cache) == 0
    cache.put([stored("a")], cache.generation)
    cache.on_notice(TOPIC, {"names": "a"})  # not a list of names: forget everything
    assert len(cache) == 0


def test_a_change_stamped_by_another_process_clears_everything(tmp_path: Path) -> None:
    path = tmp_path / "agio.db"
    here = filled(stored("a"), stamp=ChangeStamp.beside(str(path), "component-changes"))
    there = ComponentCache(60, stamp=ChangeStamp.beside(str(path), "component-changes"))
    assert here.get("a") is not None
    there.changed(["a"])
    assert here.get("a") is None
    here.put([stored("a", 2)], here.generation)
    assert here.get("a") is not None  # until the next change


# --------------------------------------------------------------------- the repository


def write(name: str, type_: str = "model", **config: Any) -> ComponentWrite:
    body = {"name": name, "type": type_, **config}
    return ComponentWrite(
        name=name,
        type=type_,
        description="",
        enabled=True,
        tags=[],
        config=body,
        refs=[],
        history_config=body,
    )


@contextmanager
def component_reads(db: Database) -> Iterator[list[str]]:
    """The statements that read the components table while inside."""
    seen: list[str] = []

    def before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if re.search(r"\bFROM components\b", statement):
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)


async def test_cached_reads_read_the_database_once(db: Database) -> None:
    repo = ComponentRepository(db, cache_seconds=60)
    await repo.create("mdl_1", write("m", provider="demo"), "t")
    await repo.create("mdl_2", write("n", provider="demo"), "t")
    with component_reads(db) as reads:
        first = await repo.get("m", "model", cached=True)
        assert len(reads) == 1
        assert await repo.get("m", "model", cached=True) == first
        assert await repo.get("mdl_1", cached=True) == first
        many = await repo.get_many(["m", "n", "gone"], cached=True)
        assert set(many) == {"m", "n"}
        assert len(reads) == 2
        assert await repo.get_many(["m", "n"], cached=True) == many
        assert await repo.revisions(["m", "n"]) == {"m": ("mdl_1", 1), "n": ("mdl_2", 1)}
        assert len(reads) == 2
        assert await repo.get("m") == first  # without `cached`: the database
        assert len(reads) == 3


async def test_every_write_is_seen_at_once_in_this_process(db: Database) -> None:
    repo = ComponentRepository(db, cache_seconds=60)
    created = await repo.create("mdl_1", write("m", provider="demo"), "t")
    assert (await repo.get("m", cached=True)) == created
    replaced = await repo.replace(created, write("m", provider="demo", timeout=5), "t")
    found = await repo.get("m", cached=True)
    assert found is not None
    assert found.revision == 2
    assert found.config["timeout"] == 5
    assert await repo.revisions(["m"]) == {"m": ("mdl_1", 2)}
    await repo.delete(replaced, "t")
    assert await repo.get("m", cached=True) is None
    assert await repo.get_many(["m"], cached=True) == {}
    assert await repo.revisions(["m"]) == {}


async def test_another_process_s_write_is_seen_through_the_stamp_or_after_the_seconds(
    db: Database, backend: str
) -> None:
    clock = Clock()
    here = ComponentRepository(db, cache_seconds=5)
    stamp = ChangeStamp.beside(db.sqlite_file, "component-changes")
    here.cache = ComponentCache(5, stamp=stamp, clock=clock)
    there = ComponentRepository(db, cache_seconds=5)  # no bus between the two
    created = await there.create("mdl_1", write("m", provider="demo"), "t")
    assert (await here.get("m", cached=True)) == created
    await there.replace(created, write("m", provider="demo", timeout=7), "t")
    seen = await here.get("m", cached=True)
    assert seen is not None
    if backend == "sqlite":  # the change stamp beside the file
        assert seen.revision == 2
    else:  # PostgreSQL without Redis: the cache's seconds bound it
        assert seen.revision == 1
        clock.now += 5
        seen = await here.get("m", cached=True)
        assert seen is not None
        assert seen.revision == 2
