"""Shared fixtures: no outbound network, settings per test, SQLite and PostgreSQL backends,
and an app with its lifespan running behind an httpx client."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from agio.api.app import create_app
from agio.config.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_CONFIGS = ROOT / "configs"

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REQUIRE_SERVICES = os.environ.get("AGIO_TEST_REQUIRE_SERVICES", "") not in ("", "0", "false")


# --------------------------------------------------------------------- password hashing


@pytest.fixture(scope="session", autouse=True)
def _cheap_argon2() -> Iterator[None]:
    """Argon2id with small cost parameters in the test process.

    Every app start hashes a dummy password (`AuthService`), and the default parameters
    (64 MiB, 3 passes, 4 lanes) cost ~0.15 s of CPU each time, hundreds of times a run.
    The algorithm and the code paths stay the same; a hash keeps its parameters in its
    text, so verifying does not depend on them. Servers started as subprocesses keep the
    defaults."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    def recommended(cls: type[PasswordHash]) -> PasswordHash:
        return cls((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PasswordHash, "recommended", classmethod(recommended))
        yield


# --------------------------------------------------------------------- no network


def _is_loopback(host: Any) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_outbound_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to 127.0.0.1 only: any other connection fails loudly."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            raise ConnectionRefusedError(f"tests may not connect to {host!r} (loopback only)")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host is not None and not _is_loopback(host):
            raise socket.gaierror(f"tests may not resolve {host!r} (loopback only)")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def _clean_agio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own AGIO_* and OpenAI variables never leak into tests."""
    for name in list(os.environ):
        if name.startswith(("AGIO_", "OPENAI_")) and not name.startswith("AGIO_TEST_"):
            monkeypatch.delenv(name)


# --------------------------------------------------------------------- the user's data dir
# `./.agio` (beside the checkout and in the working directory) belongs to the developer's
# own server (`./scripts/serve`): no test may read or write it. Every test gets a data dir
# of its own in AGIO_DATA_DIR, and an audit hook refuses any file operation in `./.agio`
# (from this process's threads; subprocesses get AGIO_DATA_DIR).

_USER_DATA_DIRS = tuple({str(ROOT / ".agio"), os.path.abspath(".agio")})
_FILE_EVENTS = frozenset(
    {"open", "os.mkdir", "os.listdir", "os.scandir", "os.remove", "os.rename", "sqlite3.connect"}
)
_user_data_dir_touched: list[str] = []


class UserDataDirTouched(RuntimeError):
    """A test reached into the developer's `./.agio`."""


def _guard_user_data_dir(event: str, args: tuple[Any, ...]) -> None:
    if event not in _FILE_EVENTS or not args or not isinstance(args[0], str | bytes | os.PathLike):
        return
    path = os.path.abspath(os.fsdecode(args[0]))
    if any(path == d or path.startswith(d + os.sep) for d in _USER_DATA_DIRS):
        _user_data_dir_touched.append(f"{event} {path}")
        raise UserDataDirTouched(f"tests may not touch the user's data dir ({event} {path})")


sys.addaudithook(_guard_user_data_dir)


@pytest.fixture(autouse=True)
def _own_data_dir(
    _clean_agio_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """AGIO_DATA_DIR is a fresh folder; a test that touched `./.agio` fails."""
    monkeypatch.setenv("AGIO_DATA_DIR", str(tmp_path / "user-data"))
    yield
    touched, _user_data_dir_touched[:] = list(_user_data_dir_touched), []
    if touched:
        pytest.fail("the test touched the user's data dir: " + "; ".join(touched))


# --------------------------------------------------------------------- PostgreSQL


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg_execute(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own on the PostgreSQL server, dropped at the end."""
    admin_url = os.environ.get("AGIO_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        asyncio.run(_pg_execute(admin_url, "SELECT 1"))
    except Exception as exc:
        message = (
            f"PostgreSQL is not reachable at {admin_url} ({type(exc).__name__}: {exc}). "
            "Start PostgreSQL or set AGIO_TEST_POSTGRES_URL=postgresql+asyncpg://user@host:port/db "
            "to run the PostgreSQL-backed tests."
        )
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    # one database per pytest process: with pytest-xdist, per worker (gw0, gw1, ...)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"agio_test_{worker}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_execute(admin_url, f'CREATE DATABASE "{name}"'))
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_pg_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@contextmanager
def _redis_prefix() -> Iterator[str]:
    import redis

    url = os.environ.get("AGIO_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        message = (
            f"Redis is not reachable at {url} ({type(exc).__name__}: {exc}). Start Redis or "
            "set AGIO_TEST_REDIS_URL=redis://host:port/db to run the Redis-backed tests."
        )
        client.close()
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    prefix = f"agio_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        yield f"{url}#{prefix}"
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis (AGIO_TEST_REDIS_URL), with a key prefix of this test's own
    (`redis_url` + "#" + prefix is split by `redis_settings`); its keys are deleted after."""
    with _redis_prefix() as url:
        yield url


@pytest.fixture(scope="module")
def module_redis_url() -> Iterator[str]:
    """`redis_url` for a whole module."""
    with _redis_prefix() as url:
        yield url


@pytest.fixture(scope="module")
def module_database_url(postgres_url: str) -> str:
    """The test run's PostgreSQL database, emptied for a module that keeps it throughout."""
    asyncio.run(_reset_postgres(postgres_url))
    return postgres_url


def redis_settings(redis_url: str) -> dict[str, str]:
    """Settings fields for the `redis_url` fixture's value."""
    url, _, prefix = redis_url.partition("#")
    return {"redis_url": url, "redis_prefix": prefix}


async def _reset_postgres(url: str) -> None:
    """Empty every table and restart the sequences, keeping the migrated schema (the first
    app of the run creates it; later ones find it at head and skip the migrations).

    DELETE, not TRUNCATE: on tables this small it takes ~3 ms where TRUNCATE takes ~40 ms
    (and `CREATE DATABASE ... TEMPLATE` ~90 ms), once per PostgreSQL test."""
    import asyncpg

    from agio.storage.tables import Base

    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        if not await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
            return  # the schema does not exist yet: the first app creates it
        sequences = await conn.fetch(
            "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences"
        )
        statements = [f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables)]
        statements += [f"ALTER SEQUENCE {row[0]} RESTART" for row in sequences]
        await conn.execute("; ".join(statements))  # one implicit transaction
    finally:
        await conn.close()


# --------------------------------------------------------------------- settings / app


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'agio.db'}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_reset_postgres(url))
    return url


@pytest.fixture
def configs_dir(tmp_path: Path) -> Path:
    """A copy of the bundled configs that a test may change."""
    target = tmp_path / "configs"
    shutil.copytree(BUNDLED_CONFIGS, target)
    return target


@pytest.fixture
def add_components(configs_dir: Path) -> Callable[[str, list[dict[str, Any]]], None]:
    """Write more components into the configs folder (before the app starts)."""

    def add(filename: str, components: list[dict[str, Any]]) -> None:
        (configs_dir / filename).write_text(yaml.safe_dump(components))

    return add


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "configs_dir": tmp_path / "configs",
            "watch_configs": False,
            "environment": "test",
            "log_level": "WARNING",
            # rate limits are tested on their own (tests/api/test_rate_limits.py)
            "rate_limit_chat": "",
            "rate_limit_auth": "",
            "rate_limit_write": "",
            "rate_limit_read": "",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every migration applied, made once per pytest process."""
    from agio.storage import migrate
    from agio.storage.database import Database

    path = tmp_path_factory.mktemp("sqlite-template") / "agio.db"

    async def build() -> None:
        database = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate.upgrade(database)
        finally:
            await database.dispose()  # checkpoints the WAL into the file

    asyncio.run(build())
    return path


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings],
    database_url: str,
    configs_dir: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Settings:
    """Settings for an app on the test's database. On SQLite the app starts from a copy of
    the migrated template (its start-up finds the schema at head, as on PostgreSQL after
    the first test); tests of migrations themselves use `database_url`, an empty file."""
    if database_url == f"sqlite+aiosqlite:///{tmp_path / 'agio.db'}":
        template: Path = request.getfixturevalue("migrated_sqlite_template")
        if not (tmp_path / "agio.db").exists():
            shutil.copyfile(template, tmp_path / "agio.db")
    return make_settings(database_url=database_url, configs_dir=configs_dir)


def admin_key(settings: Settings) -> str:
    """The bootstrap admin's API key, as the server wrote it on its first start."""
    return (settings.data_dir / "admin.key").read_text().strip()


def admin_headers(app: FastAPI) -> dict[str, str]:
    return {"X-API-Key": admin_key(app.state.settings)}


async def start_client(app: FastAPI, *, as_admin: bool = True) -> tuple[httpx.AsyncClient, Any]:
    """Start the app's lifespan and return a client for it (authenticated with the
    bootstrap admin key unless `as_admin` is false) and the lifespan to exit."""
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers=admin_headers(app) if as_admin else None,
    )
    return client, lifespan


@pytest.fixture
async def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    client, lifespan = await start_client(app)
    try:
        yield client
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


PASSWORD = "correct horse battery staple"


async def add_user(
    client: httpx.AsyncClient, role: str, username: str | None = None
) -> tuple[str, dict[str, str]]:
    """Create a user with `role` (and the password PASSWORD) through the admin API, and an
    API key for it: (user id, headers that authenticate as it)."""
    name = username or f"{role}_{uuid.uuid4().hex[:8]}"
    created = await client.post(
        "/api/users", json={"username": name, "password": PASSWORD, "role": role}
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    key = await client.post("/api/keys", json={"name": "test", "user_id": user_id})
    assert key.status_code == 201, key.text
    return user_id, {"X-API-Key": key.json()["key"]}
