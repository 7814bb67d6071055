"""The session slots of one run per session (SPEC §12) in storage, on SQLite and
PostgreSQL: the unique index refuses a second holder, `take_slot` lets one of several
concurrent starts win, the queue's order, the safety net for an ended holder, and
migration 0013 giving the oldest unfinished run of each session its slot."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError

from agio.domain.runs import QueueRank, Run, RunStatus
from agio.domain.time import utcnow
from agio.storage import migrate
from agio.storage.database import Database
from agio.storage.run_rows import new_run_rows
from agio.storage.runs import RunRepository
from agio.storage.tables import RunRow

T0 = utcnow()


def make_run(run_id: str, session_id: str, *, minutes: int = 0, **fields: Any) -> Run:
    values: dict[str, Any] = {
        "id": run_id,
        "agent_id": "agt_1",
        "agent_name": "a",
        "session_id": session_id,
        "user_id": None,
        "status": RunStatus.PENDING,
        "input_query": "q",
        "response_content": None,
        "error": None,
        "metrics": {},
        "agent_config": {},
        "created_at": T0 + timedelta(minutes=minutes),
        "started_at": None,
        "ended_at": None,
        "last_seq": 0,
        **fields,
    }
    return Run(**values)


async def insert_run(db: Database, run: Run, **options: Any) -> None:
    rows = new_run_rows(run, new_session=False, **options)
    async with db.write_sessions() as s, s.begin():
        await s.execute(insert(RunRow), [rows["run"]])


async def slot_of(db: Database, run_id: str) -> str | None:
    async with db.sessions() as s:
        return await s.scalar(select(RunRow.session_slot).where(RunRow.id == run_id))


async def test_a_held_session_refuses_a_second_holder(db: Database) -> None:
    await insert_run(db, make_run("run_1", "ses_1"), owner_id="me", holds_session=True)
    with pytest.raises(IntegrityError):
        await insert_run(db, make_run("run_2", "ses_1"), owner_id="me", holds_session=True)
    # other sessions, and runs that do not hold theirs, are not in the way
    await insert_run(db, make_run("run_3", "ses_2"), owner_id="me", holds_session=True)
    await insert_run(db, make_run("run_4", "ses_1"), owner_id="me")
    repo = RunRepository(db)
    holder = await repo.session_holder("ses_1")
    assert holder is not None
    assert holder.id == "run_1"
    assert await repo.session_holder("ses_3") is None


async def test_one_of_several_concurrent_starts_takes_the_slot(db: Database) -> None:
    repo = RunRepository(db)
    queued = [
        make_run(f"run_{i}", "ses_1", minutes=i, queue_rank=int(QueueRank.LAST)) for i in range(6)
    ]
    for run in queued:
        await insert_run(db, run, owner_id=None)
    # every process tries the run it read first, or one of the others: one wins
    results = await asyncio.gather(*(repo.take_slot(run, f"proc_{run.id}") for run in queued))
    assert sum(results) == 1
    [winner] = [run for run, won in zip(queued, results, strict=True) if won]
    assert winner.queue_rank is None
    assert winner.owner_id == f"proc_{winner.id}"
    stored = await repo.get_run(winner.id)
    assert stored is not None
    assert stored.owner_id == f"proc_{winner.id}"
    assert stored.queue_rank is None
    assert await slot_of(db, winner.id) == "ses_1"
    # a run no longer queued is not taken again
    assert not await repo.take_slot(winner, "proc_late")


async def test_the_queue_order_and_the_sessions_to_advance(db: Database) -> None:
    repo = RunRepository(db)
    await insert_run(db, make_run("run_h", "ses_1"), owner_id="me", holds_session=True)
    for run_id, minutes, rank in (("run_c", 3, "LAST"), ("run_a", 1, "LAST"), ("run_n", 5, "NEXT")):
        run = make_run(run_id, "ses_1", minutes=minutes, queue_rank=int(QueueRank[rank]))
        await insert_run(db, run, owner_id=None)
    await insert_run(db, make_run("run_x", "ses_2", queue_rank=int(QueueRank.LAST)), owner_id=None)
    # the next one first (an interrupt's), then the enqueued ones by age
    assert [r.id for r in await repo.queued_runs("ses_1")] == ["run_n", "run_a", "run_c"]
    assert await repo.sessions_to_advance() == ["ses_2"]  # ses_1 is held
    assert await repo.next_to_start("ses_1") is None
    next_2 = await repo.next_to_start("ses_2")
    assert next_2 is not None
    assert next_2.id == "run_x"
    # a queued run is not an orphan, however old its missing heartbeat is (the holder,
    # whose heartbeat is as old, is)
    assert [r.id for r in await repo.orphaned_runs(utcnow() + timedelta(days=1))] == ["run_h"]


async def test_the_maintenance_gives_back_a_slot_an_ended_run_kept(db: Database) -> None:
    repo = RunRepository(db)
    await insert_run(db, make_run("run_1", "ses_1"), owner_id="me", holds_session=True)
    await insert_run(db, make_run("run_2", "ses_2"), owner_id="me", holds_session=True)
    assert await repo.release_ended() == []
    async with db.write_sessions() as s, s.begin():  # as a write that forgot would leave it
        await s.execute(update(RunRow).where(RunRow.id == "run_1").values(status="completed"))
    assert await repo.release_ended() == ["ses_1"]
    assert await slot_of(db, "run_1") is None
    assert await slot_of(db, "run_2") == "ses_2"  # in progress: untouched


def _alembic(connection: Connection, action: str, revision: str) -> None:
    cfg = migrate.alembic_config()
    cfg.attributes["connection"] = connection
    getattr(command, action)(cfg, revision)


async def test_migration_0013_gives_each_session_to_its_oldest_unfinished_run(
    db: Database,
) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(_alembic, "downgrade", "0012")
        columns = await conn.run_sync(
            lambda sync: {c["name"] for c in sa_inspect(sync).get_columns("runs")}
        )
    try:
        old = [
            make_run("run_done", "ses_1", minutes=0, status=RunStatus.COMPLETED),
            make_run("run_first", "ses_1", minutes=1, status=RunStatus.RUNNING),
            make_run("run_second", "ses_1", minutes=2, status=RunStatus.PAUSED),
            make_run("run_alone", "ses_2", minutes=3, status=RunStatus.PENDING),
        ]
        async with db.write_sessions() as s, s.begin():
            for run in old:
                row = new_run_rows(run, new_session=False, owner_id=None)["run"]
                # only the columns of 0012 (session_slot, queue_rank and later ones are not)
                row = {k: v for k, v in row.items() if k in columns}
                assert "session_slot" not in row
                await s.execute(insert(RunRow.__table__).values(row))
    finally:
        await migrate.upgrade(db)
    assert await migrate.current_revision(db) == migrate.head_revision()
    slots = {run.id: await slot_of(db, run.id) for run in old}
    assert slots == {
        "run_done": None,
        "run_first": "ses_1",
        "run_second": None,  # it goes on as it is; the session is held by the first
        "run_alone": "ses_2",
    }
