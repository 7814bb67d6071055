"""Apply Alembic migrations at start-up (safe with several processes on PostgreSQL)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from agio.storage.database import Database

_MIGRATION_LOCK_KEY = 0x61_67_69_6F  # "agio": one advisory lock for all replicas


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "agio.storage:migrations")
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision.

    Concurrent start-ups of several processes apply each migration once: on PostgreSQL
    through a transaction-scoped advisory lock, on SQLite by taking the write lock first
    (BEGIN IMMEDIATE).
    """
    async with db.engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
        if db.dialect == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        await conn.run_sync(_upgrade)


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)
