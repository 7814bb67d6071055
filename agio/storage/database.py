"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from agio.storage import json_codec, sqlite_vec_loader
from agio.storage.sqlite_driver import SQLiteDBAPI


def normalise_url(url: str) -> str:
    """Pick the async driver for plain `sqlite://` and `postgresql://` URLs."""
    parsed = make_url(url)
    driver = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(
            f"unsupported database URL scheme '{parsed.drivername}': "
            "use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
        )
    return parsed.render_as_string(hide_password=False)


_SQLITE_TIMEOUT = 10  # seconds a connection waits for another one's write lock
_SQLITE_POOL = 64  # connections kept open at most (see `Database`)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook (below) emit BEGIN itself, so writes can be IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_TIMEOUT * 1000}")
    # Switching a new database to WAL needs a moment alone with it, and SQLite reports
    # "locked" for that at once instead of waiting; several processes may start together.
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # knowledge vectors are ranked by sqlite-vec's functions where it loads
    sqlite_vec_loader.load(sqlite_vec_loader.raw_connection(dbapi_connection))


def _sqlite_begin(conn: Any) -> None:
    # Write transactions take the write lock up front (BEGIN IMMEDIATE): a deferred
    # transaction that reads and then writes fails with SQLITE_BUSY instead of waiting
    # when another writer committed in between.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """Owns the engine of one app instance. Built in the lifespan, disposed at shutdown."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        # hide_parameters: bound values (a component's api_key, say) never reach logs or
        # exception messages
        # JSON columns by orjson, with the `json` module's results (see `json_codec`)
        kwargs: dict[str, Any] = {
            "echo": echo,
            "hide_parameters": True,
            "json_serializer": json_codec.dumps,
            "json_deserializer": json_codec.loads,
        }
        #: The SQLite database file, for plain `sqlite3` connections (`sqlite_connect`);
        #: None on PostgreSQL, and for SQLite URLs with driver options.
        self.sqlite_file: str | None = None
        if self.dialect == "sqlite":
            # no pre-ping: a connection to a local file does not go stale the way a network
            # connection does, and the ping (a `SELECT 1` on every checkout) cost a third of
            # a short read session's CPU
            database = parsed.database
            if not database or database == ":memory:":
                raise ValueError("Agio needs a SQLite file, not an in-memory database")
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            sqlite_vec_loader.prepare()
            kwargs["connect_args"] = {"timeout": _SQLITE_TIMEOUT}
            # Connections are opened only when needed, and kept: under load SQLAlchemy's
            # AsyncSession returns its connection a loop iteration after the session ends,
            # so that more sessions overlap than run at once, and with the default pool
            # (5 kept, 10 more opened and closed again) every overflowing session paid for a
            # connection of its own (its thread, the pragmas). An idle one costs a file
            # handle and a sleeping thread.
            kwargs["pool_size"] = max(pool_size, _SQLITE_POOL)
            kwargs["max_overflow"] = max(pool_size, _SQLITE_POOL)
            # sqlite3 in a thread per connection, for what may wait only (see the module)
            kwargs["module"] = SQLiteDBAPI()
            if not parsed.query:
                self.sqlite_file = database
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        #: Sessions for reads (and for writes on PostgreSQL).
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        #: The engine for read-then-write transactions (BEGIN IMMEDIATE on SQLite).
        self.write_engine: AsyncEngine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        #: Sessions on `write_engine`.
        self.write_sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.write_engine, expire_on_commit=False
        )

    def sqlite_connect(self) -> sqlite3.Connection:
        """A plain `sqlite3` connection to the SQLite file, set up like the engine's own
        (WAL, foreign keys, busy timeout; transactions begun explicitly). It may be used
        from one thread at a time, whichever that is."""
        if self.sqlite_file is None:
            raise RuntimeError("not a plain SQLite database file")
        connection = sqlite3.connect(
            self.sqlite_file, timeout=_SQLITE_TIMEOUT, check_same_thread=False
        )
        try:
            _sqlite_pragmas(connection, None)
        except BaseException:
            connection.close()
            raise
        return connection

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for logs and health output."""
        return make_url(self.url).render_as_string(hide_password=True)

    async def ping(self) -> None:
        """Run `SELECT 1` (callers bound it with `asyncio.timeout`)."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
