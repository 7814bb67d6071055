"""`Container.start` opens everything an app owns; a start that fails half-way closes what
it had opened (no writer task, bus, engine, rate-limit storage or tracer left behind)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.exceptions

from agio.api.container import Container
from agio.api.ratelimit import RateLimits
from agio.bus.memory import InProcessBus
from agio.bus.redis import RedisBus
from agio.config.settings import Settings
from agio.observability.tracing import Tracing
from agio.runtime.manager import RunManager
from agio.runtime.redis_memory import RedisMemoryStore
from agio.services.auth import AuthService
from agio.services.config_files import ConfigFiles
from agio.services.health import HealthChecker
from agio.storage import migrate
from agio.storage.database import Database
from agio.storage.writer import RunWriter
from tests.conftest import redis_settings

# what opens a resource and what closes it, per kind
RESOURCES: dict[str, tuple[type, str, str]] = {
    "tracing": (Tracing, "__init__", "shutdown"),
    "database": (Database, "__init__", "dispose"),
    "config watcher": (ConfigFiles, "start_watching", "close"),
    "rate-limit storage": (RateLimits, "__init__", "close"),
    "in-process bus": (InProcessBus, "__init__", "close"),
    "redis bus": (RedisBus, "__init__", "close"),
    "writer": (RunWriter, "start", "close"),
    "redis memory": (RedisMemoryStore, "__init__", "close"),
    "run manager": (RunManager, "__init__", "close"),
}


class Tracker:
    """Records, per kind, the objects opened and the objects closed."""

    def __init__(self) -> None:
        self.opened: dict[str, list[int]] = {kind: [] for kind in RESOURCES}
        self.closed: dict[str, list[int]] = {kind: [] for kind in RESOURCES}

    def left_open(self) -> dict[str, int]:
        return {
            kind: len(set(ids) - set(self.closed[kind]))
            for kind, ids in self.opened.items()
            if set(ids) - set(self.closed[kind])
        }


def _recording(method: Callable[..., Any], record: list[int]) -> Callable[..., Any]:
    if asyncio.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_wrapper(self: object, *args: Any, **kwargs: Any) -> Any:
            record.append(id(self))
            return await method(self, *args, **kwargs)

        return async_wrapper

    @functools.wraps(method)
    def wrapper(self: object, *args: Any, **kwargs: Any) -> Any:
        record.append(id(self))
        return method(self, *args, **kwargs)

    return wrapper


@pytest.fixture
def tracker(monkeypatch: pytest.MonkeyPatch) -> Tracker:
    tracker = Tracker()
    for kind, (cls, open_name, close_name) in RESOURCES.items():
        monkeypatch.setattr(
            cls, open_name, _recording(getattr(cls, open_name), tracker.opened[kind])
        )
        monkeypatch.setattr(
            cls, close_name, _recording(getattr(cls, close_name), tracker.closed[kind])
        )
    return tracker


class Injected(RuntimeError):
    """The failure a test injects into the start."""


async def _fail(*args: Any, **kwargs: Any) -> None:
    raise Injected("injected")


def _fail_sync(*args: Any, **kwargs: Any) -> None:
    raise Injected("injected")


# each: where the start fails (the function replaced by one that raises), and which
# resources must have been opened by then (so the test knows it failed where it meant to)
FAILURES: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], set[str]]] = {
    "migrations": (
        lambda mp: mp.setattr(migrate, "upgrade", _fail),
        {"database"},
    ),
    "bootstrap admin": (
        lambda mp: mp.setattr(AuthService, "bootstrap", _fail),
        {"database"},
    ),
    "configs": (
        lambda mp: mp.setattr(ConfigFiles, "reload", _fail),
        {"database"},
    ),
    "writer start": (
        lambda mp: mp.setattr(RunWriter, "start", _fail_sync),
        {"database", "config watcher", "rate-limit storage", "redis bus"},
    ),
    "runtime start": (
        lambda mp: mp.setattr(RunManager, "start", _fail),
        {"database", "config watcher", "rate-limit storage", "redis bus", "writer"}
        | {"redis memory", "run manager"},
    ),
    "health checker": (
        lambda mp: mp.setattr(HealthChecker, "__init__", _fail_sync),
        {"database", "config watcher", "rate-limit storage", "redis bus", "writer"}
        | {"redis memory", "run manager"},
    ),
}


def _pending_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


@pytest.fixture
def start_settings(
    make_settings: Callable[..., Settings], tmp_path: Path, configs_dir: Path, redis_url: str
) -> Settings:
    return make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'agio.db'}",
        configs_dir=configs_dir,
        watch_configs=True,
        **redis_settings(redis_url),
    )


@pytest.mark.parametrize("where", list(FAILURES))
async def test_a_failed_start_closes_what_it_opened(
    where: str,
    start_settings: Settings,
    tracker: Tracker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inject, expected_open = FAILURES[where]
    inject(monkeypatch)
    before = _pending_tasks()
    with pytest.raises(Injected):
        await Container.start(start_settings)
    opened = {kind for kind, ids in tracker.opened.items() if ids}
    assert expected_open <= opened
    assert tracker.left_open() == {}
    await asyncio.sleep(0)
    assert {t.get_name() for t in _pending_tasks() - before} == set()


async def test_an_unreachable_redis_fails_the_start_and_closes_what_it_opened(
    make_settings: Callable[..., Settings], tmp_path: Path, configs_dir: Path, tracker: Tracker
) -> None:
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'agio.db'}",
        configs_dir=configs_dir,
        watch_configs=True,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens on port 1
    )
    before = _pending_tasks()
    with pytest.raises(redis.exceptions.ConnectionError, match=r"127\.0\.0\.1:1"):
        await Container.start(settings)
    assert {"database", "config watcher", "rate-limit storage", "redis bus"} <= {
        kind for kind, ids in tracker.opened.items() if ids
    }
    assert tracker.left_open() == {}
    await asyncio.sleep(0)
    assert {t.get_name() for t in _pending_tasks() - before} == set()


async def test_close_releases_everything_start_opened(
    start_settings: Settings, tracker: Tracker
) -> None:
    container = await Container.start(start_settings)
    assert container.run_manager is not None
    await container.close()
    assert tracker.left_open() == {}
    assert set(RESOURCES) - {"in-process bus"} <= {
        kind for kind, ids in tracker.opened.items() if ids
    }
