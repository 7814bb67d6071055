"""Storage test fixtures: a migrated database on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agio.storage import migrate
from agio.storage.database import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await migrate.upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()
