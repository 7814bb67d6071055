"""The SQLite driver under the engine: what may wait runs in the connection's thread, so a
write waiting for another connection's lock never holds the event loop up; reads run in
place meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from agio.domain.time import utcnow
from agio.storage import migrate
from agio.storage.database import Database
from agio.storage.sqlite_driver import _IN_PLACE
from agio.storage.tables import SessionRow


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'agio.db'}")
    await migrate.upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


def _session(session_id: str) -> dict[str, object]:
    now = utcnow()
    return {
        "id": session_id,
        "agent_id": "a",
        "user_id": None,
        "created_at": now,
        "updated_at": now,
    }


async def _add_session(db: Database, session_id: str) -> None:
    async with db.write_sessions() as s, s.begin():
        await s.execute(insert(SessionRow).values(**_session(session_id)))


async def _session_ids(db: Database) -> list[str]:
    async with db.sessions() as s:
        return list((await s.execute(select(SessionRow.id).order_by(SessionRow.id))).scalars())


@pytest.mark.parametrize(
    ("sql", "in_place"),
    [
        ("SELECT 1", True),
        ("  select * from runs", True),
        ("BEGIN", True),
        ("BEGIN DEFERRED", True),
        ("ROLLBACK", True),
        ("BEGIN IMMEDIATE", False),
        ("BEGIN EXCLUSIVE", False),
        ("INSERT INTO runs VALUES (?)", False),
        ("UPDATE runs SET status = ? RETURNING id", False),
        ("WITH x AS (SELECT 1) DELETE FROM runs", False),
        ("PRAGMA journal_mode=WAL", False),
        ("COMMIT", False),
    ],
)
def test_what_runs_in_place(sql: str, in_place: bool) -> None:
    assert (_IN_PLACE.match(sql) is not None) is in_place


async def test_a_write_waiting_for_the_lock_leaves_the_event_loop_free(
    db: Database, tmp_path: Path
) -> None:
    await _add_session(db, "ses_0")
    other = sqlite3.connect(tmp_path / "agio.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        write = asyncio.create_task(_add_session(db, "ses_1"))
        started = time.monotonic()
        await asyncio.sleep(0.3)
        assert time.monotonic() - started < 0.29 + 0.5  # the loop ran on
        assert not write.done()
        assert await _session_ids(db) == ["ses_0"]  # reads go on, in place
        other.execute("COMMIT")
        await asyncio.wait_for(write, 5)
    finally:
        other.close()
    assert await _session_ids(db) == ["ses_0", "ses_1"]


async def test_a_write_cancelled_while_waiting_leaves_the_engine_usable(
    db: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "agio.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        writes = [asyncio.create_task(_add_session(db, f"ses_{i}")) for i in range(3)]
        await asyncio.sleep(0.2)
        writes[1].cancel()
        await asyncio.sleep(0.1)
        other.execute("COMMIT")
        results = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 15)
    finally:
        other.close()
    assert isinstance(results[1], asyncio.CancelledError)
    assert results[0] is None
    assert results[2] is None
    await _add_session(db, "ses_9")
    assert await _session_ids(db) == ["ses_0", "ses_2", "ses_9"]


async def test_concurrent_readers_and_writers(db: Database) -> None:
    async def writer(n: int) -> None:
        for i in range(10):
            await _add_session(db, f"ses_{n}_{i:02d}")

    async def reader() -> int:
        count = 0
        for _ in range(20):
            count = len(await _session_ids(db))
            await asyncio.sleep(0)
        return count

    results = await asyncio.gather(*(writer(n) for n in range(4)), *(reader() for _ in range(4)))
    assert all(isinstance(r, int) or r is None for r in results)
    assert len(await _session_ids(db)) == 40


async def test_core_results_close_their_cursor_outside_the_greenlet(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """`first()` on an AsyncConnection's (buffered) result closes the cursor from plain
    code, outside SQLAlchemy's greenlet: the driver must not need to wait there (SQLAlchemy
    would log the failure and carry on, so the log is checked)."""
    await _add_session(db, "ses_a")
    await _add_session(db, "ses_b")
    for _ in range(3):  # the connection goes back to the pool and is used again
        async with db.engine.connect() as connection:
            # `first()` of several rows leaves the cursor open until then
            result = await connection.execute(select(SessionRow.id).order_by(SessionRow.id))
            assert result.first() == ("ses_a",)
            result = await connection.execute(select(SessionRow.id).order_by(SessionRow.id))
            assert result.scalar() == "ses_a"
        async with db.engine.connect() as connection:
            result = await connection.execute(select(SessionRow.id).where(SessionRow.id == "x"))
            assert result.first() is None
    assert await _session_ids(db) == ["ses_a", "ses_b"]
    assert "Error closing cursor" not in caplog.text
    assert "MissingGreenlet" not in caplog.text


async def test_a_key_lookup_through_core_works_again_and_again(db: Database) -> None:
    from agio.domain.security import Role
    from agio.storage.users import UserRepository

    users = UserRepository(db)
    user = await users.create("ann", Role.USER, None)
    assert user is not None
    await users.add_key(user.id, "k", "agio_0123456789ab", "0" * 64, None)
    for _ in range(5):
        found = await users.key_by_prefix("agio_0123456789ab")
        assert found is not None
        assert found[1].username == "ann"
        assert await users.key_by_prefix("agio_ffffffffffff") is None
