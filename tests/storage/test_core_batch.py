"""The writer's Core statements: one execution per kind of write stores, row by row, what
one statement per row stored; an ended run is left alone among the others updated with it;
`lock_runs` reads the runs in id order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from agio.bus.memory import InProcessBus
from agio.domain.runs import Step
from agio.storage.core_batch import lock_runs, store
from agio.storage.database import Database
from agio.storage.runs import new_run_rows
from agio.storage.tables import RunRow, RunStepRow, SessionRow
from agio.storage.write_batch import Batch
from agio.storage.writer import RunWriter
from tests.storage.seed import make_run

LATER = datetime(2026, 2, 1, 12, 0, 0, 500, tzinfo=UTC)


async def _runs(db: Database) -> None:
    """run_a, run_b, run_c (ended) in ses_1; run_d in ses_2; two steps each for a and b."""
    writer = RunWriter(db, InProcessBus(), sqlite_fast_path=False)
    writer.start()
    try:
        for run_id, session_id, new in (
            ("run_a", "ses_1", True),
            ("run_b", "ses_1", False),
            ("run_c", "ses_1", False),
            ("run_d", "ses_2", True),
        ):
            writer.create_run(
                new_run_rows(make_run(run_id, session_id), new_session=new, owner_id="me")
            )
        for run_id in ("run_a", "run_b"):
            for step_num in (1, 2):
                writer.save_step(Step(run_id=run_id, step_num=step_num, type="llm_call"))
        writer.update_run("run_c", status="completed")
        await writer.flush()
    finally:
        await writer.close()


async def test_one_execution_per_kind_stores_each_row(db: Database) -> None:
    await _runs(db)
    batch = Batch(
        new_sessions=[],
        new_runs=[],
        touched_sessions={"ses_1": LATER, "ses_2": LATER + timedelta(seconds=1)},
        events=[],
        steps=[],
        run_updates={
            "run_a": {"status": "running", "last_seq": 3},
            "run_c": {"status": "running", "last_seq": 9},  # ended: left as it is
            "run_d": {"status": "running", "last_seq": 4},
            "run_b": {"control": "pause"},
        },
        session_messages=[],
        checkpoints=[],
        supersede=[("run_a", 1), ("run_b", 0)],
    )
    async with db.write_engine.begin() as s:
        await store(s, batch)
    async with db.sessions() as s:
        runs = {r.id: r for r in (await s.execute(select(RunRow))).scalars()}
        sessions = {r.id: r.updated_at for r in (await s.execute(select(SessionRow))).scalars()}
        steps = (
            await s.execute(
                select(RunStepRow.run_id, RunStepRow.step_num, RunStepRow.superseded).order_by(
                    RunStepRow.run_id, RunStepRow.step_num
                )
            )
        ).all()
    assert {r: (runs[r].status, runs[r].last_seq, runs[r].control) for r in runs} == {
        "run_a": ("running", 3, None),
        "run_b": ("pending", 0, "pause"),
        "run_c": ("completed", 0, None),
        "run_d": ("running", 4, None),
    }
    assert sessions == {"ses_1": LATER, "ses_2": LATER + timedelta(seconds=1)}
    assert [tuple(row) for row in steps] == [
        ("run_a", 1, False),
        ("run_a", 2, True),
        ("run_b", 1, True),
        ("run_b", 2, True),
    ]


async def test_lock_runs_reads_owner_and_status_in_id_order(db: Database) -> None:
    await _runs(db)
    async with db.write_engine.begin() as s:
        await s.execute(update(RunRow).where(RunRow.id == "run_b").values(owner_id="other"))
    async with db.write_engine.begin() as s:
        rows = await lock_runs(s, ["run_d", "run_b", "run_c", "run_x"])
    assert rows == [
        ("run_b", "other", "pending"),
        ("run_c", "me", "completed"),
        ("run_d", "me", "pending"),
    ]
