"""The shared fixtures that make the suite fast keep tests apart: a PostgreSQL database per
pytest process (per xdist worker), emptied between tests with its sequences restarted; app
tests on SQLite start from a copy of the migrated template; Argon2id stays Argon2id."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import httpx
import pytest
from pwdlib import PasswordHash

from agio.config.settings import Settings
from agio.storage import migrate
from agio.storage.database import Database
from agio.storage.tables import Base
from tests.conftest import _asyncpg_dsn, _reset_postgres


async def _counts_and_next_ids(url: str) -> tuple[dict[str, int], dict[str, int]]:
    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        counts = {
            t.name: int(await conn.fetchval(f'SELECT count(*) FROM "{t.name}"'))
            for t in Base.metadata.sorted_tables
        }
        names = [r[0] for r in await conn.fetch("SELECT sequencename FROM pg_sequences")]
        next_ids = {name: int(await conn.fetchval(f"SELECT nextval('{name}')")) for name in names}
        return counts, next_ids
    finally:
        await conn.close()


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_the_postgres_reset_empties_every_table_and_restarts_the_sequences(
    client: httpx.AsyncClient, database_url: str
) -> None:
    created = await client.post(
        "/api/agents", json={"name": "fixture_probe", "model": "demo", "tools": []}
    )
    assert created.status_code == 201, created.text
    counts, next_ids = await _counts_and_next_ids(database_url)
    assert counts["components"] > 0
    assert counts["users"] > 0
    assert next_ids["component_revisions_id_seq"] > 1

    await _reset_postgres(database_url)

    counts, next_ids = await _counts_and_next_ids(database_url)
    assert counts == dict.fromkeys(counts, 0)
    assert next_ids
    assert next_ids == dict.fromkeys(next_ids, 1)


@pytest.mark.postgres
def test_each_pytest_process_has_a_postgres_database_of_its_own(postgres_url: str) -> None:
    name = postgres_url.rpartition("/")[2]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    assert name.startswith(f"agio_test_{worker}_{os.getpid()}_")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_app_tests_start_from_the_migrated_template(
    settings: Settings, tmp_path: Path
) -> None:
    assert settings.resolved_database_url.endswith(str(tmp_path / "agio.db"))

    async def revision() -> str | None:
        database = Database(settings.resolved_database_url)
        try:
            return await migrate.current_revision(database)
        finally:
            await database.dispose()

    assert asyncio.run(revision()) == migrate.head_revision()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_migration_tests_get_an_empty_sqlite_file(database_url: str, tmp_path: Path) -> None:
    assert database_url.endswith(str(tmp_path / "agio.db"))
    assert not (tmp_path / "agio.db").exists()


def test_passwords_are_still_argon2id() -> None:
    hashed = PasswordHash.recommended().hash("a password")
    assert hashed.startswith("$argon2id$")
    assert PasswordHash.recommended().verify("a password", hashed)


def test_outside_the_tests_passwords_get_argon2s_full_cost() -> None:
    """The cheap parameters are the test process's only: a fresh interpreter (as the
    server is) hashes with Argon2id at its recommended cost."""
    import subprocess
    import sys

    code = (
        "from pwdlib import PasswordHash\n"
        "from agio.services import auth\n"  # what the server imports
        "print(PasswordHash.recommended().hash('a password'))\n"
    )
    hashed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert hashed.startswith("$argon2id$")
    params = dict(p.split("=") for p in hashed.split("$")[3].split(","))
    assert int(params["m"]) >= 65536
    assert int(params["t"]) >= 2
    cheap = PasswordHash.recommended().hash("a password").split("$")[3]
    assert cheap != hashed.split("$")[3]
