"""The run writer: one transaction per batch, published only once stored, barriers after
the commit; on SQLite its fast path stores exactly what the SQLAlchemy path stores."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from agio.bus.memory import InProcessBus
from agio.domain.events import Event
from agio.domain.runs import Run, RunStatus, Step
from agio.domain.time import utcnow
from agio.storage import migrate
from agio.storage.database import Database
from agio.storage.runs import new_run_rows
from agio.storage.tables import RunEventRow, RunRow
from agio.storage.writer import RunWriteFailed, RunWriter

# fixed, so that two databases written at different times hold the same rows
NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
TABLES = ("sessions", "runs", "run_events", "run_steps", "checkpoints", "session_messages")


def _run(run_id: str, session_id: str) -> Run:
    return Run(
        id=run_id,
        agent_id="agt_1",
        agent_name="helper",
        session_id=session_id,
        user_id="ü-ser",
        status=RunStatus.PENDING,
        input_query="What is 6*7? «quoted» \"and\" 'so on'\n",
        response_content=None,
        error=None,
        metrics={},
        agent_config={"agent_id": "agt_1", "model": {"name": "m", "temperature": 0.5}},
        created_at=NOW,
        started_at=None,
        ended_at=None,
        last_seq=0,
    )


def _checkpoint(checkpoint_id: str, run_id: str, seq: int) -> dict[str, Any]:
    return {
        "id": checkpoint_id,
        "run_id": run_id,
        "step_num": 0,
        "kind": "start",
        "description": "",
        "tags": ["a", "é"],
        "state": {"messages": [{"role": "user", "content": "hi ✓"}], "n": 1.25, "x": None},
        "agent_config": {"agent_id": "agt_1"},
        "seq": seq,
        "run_status": "pending",
        "message_count": 1,
        "total_tokens": 0,
        "created_at": NOW,
    }


async def _drive(writer: RunWriter) -> None:
    """The same sequence of hand-overs, whichever path stores them."""
    first, second, third = _run("run_1", "ses_1"), _run("run_2", "ses_1"), _run("run_3", "ses_1")
    writer.create_run(new_run_rows(first, new_session=True, owner_id="me"))
    writer.save_checkpoint(_checkpoint("ckpt_1", "run_1", 0))
    await writer.flush()
    now = NOW + timedelta(hours=1)
    writer.update_run("run_1", status="running", started_at=now, heartbeat_at=now)
    for seq, type_, data in (
        (1, "run_started", {"run_id": "run_1"}),
        (2, "content_delta", {"delta": 'Grüße, "world"\n\u2028'}),
        (3, "content_delta", {"delta": "", "nested": {"a": [1, 2.5, None, True]}}),
    ):
        writer.append(Event("run_1", seq, type_, now + timedelta(microseconds=seq), data))
    # what orjson does not write as the `json` module did (see agio.storage.json_codec)
    odd = {"ratio": math.nan, "big": 2**70, "pair": (1, 2), "keys": {1: "one"}, "inf": math.inf}
    writer.append(Event("run_1", 4, "tool_call_started", now.replace(microsecond=0), odd))
    writer.save_step(
        Step(
            run_id="run_1",
            step_num=1,
            type="llm_call",
            messages=[{"role": "assistant", "content": "ok"}],
            model_response={"content": "ok"},
            metrics={"tokens": 3},
            started_at=now,
            ended_at=now + timedelta(seconds=1),
        )
    )
    writer.save_step(Step(run_id="run_1", step_num=2, type="tool_call"))
    writer.supersede_steps("run_1", 1)
    writer.supersede_steps("run_1", 2)
    # a second and a third run in the same session: the session is touched, not inserted
    writer.create_run(new_run_rows(second, new_session=False, owner_id="me"))
    writer.create_run(new_run_rows(third, new_session=False, owner_id="me"))
    writer.update_run(
        "run_1",
        status="completed",
        response_content="ok",
        ended_at=now + timedelta(seconds=2),
        metrics={"total_tokens": 3, "duration": 0.5},
        owner_id=None,
        total_tokens=3,
        duration=0.5,
    )
    writer.add_session_messages(
        [
            {
                "session_id": "ses_1",
                "run_id": "run_1",
                "message": {"role": "user"},
                "created_at": now,
            },
            {"session_id": "ses_1", "run_id": "run_1", "message": {"x": "ñ"}, "created_at": now},
        ]
    )
    writer.append(Event("run_1", 5, "run_completed", now, {"run_id": "run_1"}))
    await writer.flush()
    # late writes never change a terminal state (run_1), and leave the others' alone
    writer.update_run("run_1", status="running", control="pause")
    writer.update_run("run_2", status="running", control=None, recovery_count=1)
    berlin = datetime(2026, 3, 29, 3, 30, 0, 250, tzinfo=ZoneInfo("Europe/Berlin"))
    writer.update_run("run_3", status="running", control="pause")  # run_1's columns
    writer.update_run("run_3", started_at=berlin, heartbeat_at=berlin.replace(microsecond=0))
    await writer.flush()


def _rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as connection:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in TABLES
        }


@pytest.fixture
async def sqlite_dbs(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    fast, plain = (
        Database(f"sqlite:///{tmp_path / 'fast.db'}"),
        Database(f"sqlite:///{tmp_path / 'plain.db'}"),
    )
    for db in (fast, plain):
        await migrate.upgrade(db)
    try:
        yield fast, plain
    finally:
        await fast.dispose()
        await plain.dispose()


async def test_sqlite_fast_path_stores_what_sqlalchemy_stores(
    sqlite_dbs: tuple[Database, Database], tmp_path: Path
) -> None:
    fast_db, plain_db = sqlite_dbs
    fast = RunWriter(fast_db, InProcessBus())
    plain = RunWriter(plain_db, InProcessBus(), sqlite_fast_path=False)
    for writer in (fast, plain):
        writer.start()
        try:
            await _drive(writer)
        finally:
            await writer.close()
    stored = _rows(tmp_path / "fast.db")
    assert stored == _rows(tmp_path / "plain.db")
    assert len(stored["run_events"]) == 5
    assert [r[2] for r in stored["run_steps"]] == [1, 2]  # step_num
    # the late update left the completed run alone, and did update the other one
    async with fast_db.sessions() as s:
        runs = {r.id: r for r in (await s.execute(select(RunRow))).scalars()}
    assert runs["run_1"].status == "completed"
    assert runs["run_1"].control is None
    assert runs["run_1"].last_seq == 5
    assert runs["run_2"].status == "running"
    assert runs["run_2"].recovery_count == 1
    assert (runs["run_3"].status, runs["run_3"].control) == ("running", "pause")
    assert runs["run_3"].started_at == datetime(2026, 3, 29, 1, 30, 0, 250, tzinfo=UTC)


class _CheckingBus(InProcessBus):
    """Asserts that every event it is given is already stored."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        self.published: list[Event] = []

    async def publish(self, run_id: str, events: Sequence[Event]) -> None:
        async with self.db.sessions() as s:
            stored = set(
                (
                    await s.execute(select(RunEventRow.seq).where(RunEventRow.run_id == run_id))
                ).scalars()
            )
        assert {e.seq for e in events} <= stored
        self.published.extend(events)
        await super().publish(run_id, events)


async def test_events_are_published_after_their_commit_in_order(db: Database) -> None:
    bus = _CheckingBus(db)
    writer = RunWriter(db, bus)
    writer.start()
    try:
        writer.create_run(new_run_rows(_run("run_1", "ses_1"), new_session=True, owner_id="me"))
        for seq in range(1, 201):
            writer.append(Event("run_1", seq, "content_delta", utcnow(), {"delta": str(seq)}))
            if seq % 37 == 0:
                await asyncio.sleep(0)  # spread over several batches
        await writer.flush()
    finally:
        await writer.close()
    assert [e.seq for e in bus.published] == list(range(1, 201))
    async with db.sessions() as s:
        run = (await s.execute(select(RunRow).where(RunRow.id == "run_1"))).scalar_one()
    assert run.last_seq == 200


# text the database cannot store: a lone surrogate on both, a NUL on PostgreSQL too
UNSTORABLE = "half a character: \udc80"


@pytest.mark.parametrize("fast_path", [True, False])
async def test_a_refused_write_fails_only_its_own_run(db: Database, fast_path: bool) -> None:
    """Runs share a batch; one run's write cannot be stored. The others' writes are stored
    and published at once, the refused run ends `failed` with a `run_failed` event right
    after its last stored one (a fresh transaction), and its later writes are dropped."""
    bus = _CheckingBus(db)
    writer = RunWriter(db, bus, sqlite_fast_path=fast_path)
    refused: list[dict[str, dict[str, Any]]] = []
    writer.on_write_failed.append(refused.append)
    writer.start()
    try:
        for run_id in ("run_1", "run_2", "run_3"):
            writer.create_run(new_run_rows(_run(run_id, run_id), new_session=True, owner_id="me"))
        await writer.flush()
        for run_id in ("run_1", "run_2", "run_3"):
            writer.update_run(run_id, status="running", started_at=NOW)
            writer.append(Event(run_id, 1, "run_started", NOW, {"run_id": run_id}))
        await writer.flush()
        writer.append(Event("run_1", 2, "content_delta", NOW, {"content": "fine"}))
        writer.append(Event("run_2", 2, "content_delta", NOW, {"content": "ok"}))
        writer.update_run("run_2", response_content=UNSTORABLE)  # refused
        writer.append(Event("run_2", 3, "content_delta", NOW, {"content": "lost with it"}))
        writer.append(Event("run_3", 2, "content_delta", NOW, {"content": "fine too"}))
        with pytest.raises(RunWriteFailed, match="could not be stored"):
            await writer.flush("run_2")
        await writer.flush("run_1")  # the others' barriers are kept
        # what the refused run still hands over is dropped
        writer.append(Event("run_2", 4, "content_delta", NOW, {"content": "too late"}))
        writer.append(Event("run_1", 3, "run_completed", NOW, {"response": "fine"}))
        await writer.flush()
    finally:
        await writer.close()
    assert list(refused[0]) == ["run_2"]
    assert refused[0]["run_2"]["type"] == "StorageFailed"
    async with db.sessions() as s:
        rows = (
            (await s.execute(select(RunEventRow).order_by(RunEventRow.run_id, RunEventRow.seq)))
            .scalars()
            .all()
        )
        runs = {r.id: r for r in (await s.execute(select(RunRow))).scalars()}
    stored = [(r.run_id, r.seq, r.type) for r in rows]
    assert stored == [
        ("run_1", 1, "run_started"),
        ("run_1", 2, "content_delta"),
        ("run_1", 3, "run_completed"),
        ("run_2", 1, "run_started"),
        ("run_2", 2, "content_delta"),  # handed over before the refused write: kept
        ("run_2", 3, "run_failed"),
        ("run_3", 1, "run_started"),
        ("run_3", 2, "content_delta"),
    ]
    assert runs["run_2"].status == "failed"
    assert runs["run_2"].error["type"] == "StorageFailed"
    assert runs["run_2"].last_seq == 3
    assert runs["run_1"].status == "running"
    # every stored event was published once, each run in order
    published = sorted((e.run_id, e.seq, e.type) for e in bus.published)
    assert published == stored


async def test_writes_for_a_run_another_process_owns_are_fenced(db: Database) -> None:
    """Fencing: once another process has claimed a run, this writer drops everything it
    still has for it (events, steps, run updates), tells the runtime, and writes the rest."""
    from sqlalchemy import update

    bus = _CheckingBus(db)
    writer = RunWriter(db, bus, sqlite_fast_path=False)
    writer.owner_id = "me"
    fenced: list[set[str]] = []
    writer.on_fenced.append(fenced.append)
    writer.start()
    try:
        writer.create_run(new_run_rows(_run("run_1", "ses_1"), new_session=True, owner_id="me"))
        writer.create_run(new_run_rows(_run("run_2", "ses_1"), new_session=False, owner_id="me"))
        writer.append(Event("run_1", 1, "run_started", utcnow(), {}))
        await writer.flush()
        async with db.sessions() as s, s.begin():  # another process takes run_1 over
            await s.execute(update(RunRow).where(RunRow.id == "run_1").values(owner_id="other"))
        writer.append(Event("run_1", 2, "content_delta", utcnow(), {"delta": "stale"}))
        writer.update_run("run_1", status="failed")
        writer.append(Event("run_2", 1, "run_started", utcnow(), {}))
        await writer.flush()
        # a run that nobody owns (handed back, or paused) may still be written for
        async with db.sessions() as s, s.begin():
            await s.execute(update(RunRow).where(RunRow.id == "run_2").values(owner_id=None))
        writer.append(Event("run_2", 2, "run_cancelled", utcnow(), {}))
        await writer.flush()
        # a run that has ended (failed as an orphan while this process stalled, say) takes
        # nothing more from this process either
        async with db.sessions() as s, s.begin():
            await s.execute(update(RunRow).where(RunRow.id == "run_2").values(status="failed"))
        writer.append(Event("run_2", 3, "content_delta", utcnow(), {"delta": "late"}))
        await writer.flush()
    finally:
        await writer.close()
    assert fenced == [{"run_1"}, {"run_2"}]
    assert [(e.run_id, e.seq) for e in bus.published] == [
        ("run_1", 1),
        ("run_2", 1),
        ("run_2", 2),
    ]
    async with db.sessions() as s:
        events = (await s.execute(select(RunEventRow.run_id, RunEventRow.seq))).all()
        run_1 = (await s.execute(select(RunRow).where(RunRow.id == "run_1"))).scalar_one()
    assert sorted(events) == [("run_1", 1), ("run_2", 1), ("run_2", 2)]
    assert run_1.status == "pending"
    assert run_1.owner_id == "other"


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"server says {sqlstate}: the value 'secret-value' is bad")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "refused"),
    [
        ("22021", True),  # a NUL in text
        ("22P05", True),  # \u0000 in JSONB
        ("23505", True),  # a unique constraint
        ("40P01", False),  # deadlock
        ("55P03", False),  # lock timeout
        ("57014", False),  # statement timeout
        ("57P01", False),  # the server is shutting down
        ("53300", False),  # too many connections
        ("25006", False),  # read-only after a failover
        ("53100", False),  # disk full
    ],
)
def test_only_a_refusal_for_the_data_is_singled_out(sqlstate: str, refused: bool) -> None:
    from sqlalchemy.exc import DBAPIError

    from agio.storage.write_batch import reason
    from agio.storage.write_batch import refused as is_refused

    error = DBAPIError("INSERT …", None, _Orig(sqlstate))
    assert is_refused(error) is refused
    assert "secret-value" not in reason(error)  # the driver's message quotes values


def test_refusals_by_the_driver_and_by_sqlite() -> None:
    from sqlalchemy.exc import StatementError

    from agio.storage.write_batch import refused

    assert refused(StatementError("binding", "INSERT …", None, TypeError("not JSON")))
    assert refused(UnicodeEncodeError("utf-8", "\udc80", 0, 1, "surrogates not allowed"))
    assert refused(sqlite3.IntegrityError("FOREIGN KEY constraint failed"))
    assert not refused(sqlite3.OperationalError("database is locked"))
    assert not refused(ConnectionResetError())
    assert not refused(TimeoutError())


@pytest.mark.parametrize("fast_path", [True, False])
async def test_nan_is_stored_on_sqlite_and_refused_by_postgresql(
    db: Database, fast_path: bool
) -> None:
    """As with the `json` module's NaN: SQLite keeps it, PostgreSQL's JSON has no NaN."""
    writer = RunWriter(db, _CheckingBus(db), sqlite_fast_path=fast_path)
    writer.start()
    try:
        writer.create_run(new_run_rows(_run("run_1", "run_1"), new_session=True, owner_id="me"))
        await writer.flush()
        writer.append(Event("run_1", 1, "tool_call_started", NOW, {"args": {"x": math.nan}}))
        if db.dialect == "sqlite":
            await writer.flush("run_1")
        else:
            with pytest.raises(RunWriteFailed):
                await writer.flush("run_1")
    finally:
        await writer.close()
    async with db.sessions() as s:
        rows = (await s.execute(select(RunEventRow.type, RunEventRow.data))).all()
    if db.dialect == "sqlite":
        [(type_, data)] = rows
        assert type_ == "tool_call_started"
        assert math.isnan(data["args"]["x"])
    else:
        assert [type_ for type_, _ in rows] == ["run_failed"]


@pytest.mark.parametrize("fast_path", [True, False])
async def test_a_value_that_is_not_json_fails_only_its_run(db: Database, fast_path: bool) -> None:
    writer = RunWriter(db, _CheckingBus(db), sqlite_fast_path=fast_path)
    writer.start()
    try:
        for run_id in ("run_1", "run_2"):
            writer.create_run(new_run_rows(_run(run_id, run_id), new_session=True, owner_id="me"))
        await writer.flush()
        writer.append(Event("run_1", 1, "run_started", NOW, {"ok": True}))
        writer.append(Event("run_2", 1, "tool_call_completed", NOW, {"result": {1, 2}}))
        await writer.flush("run_1")
        with pytest.raises(RunWriteFailed):
            await writer.flush("run_2")
    finally:
        await writer.close()
    async with db.sessions() as s:
        rows = (await s.execute(select(RunEventRow.run_id, RunEventRow.type))).all()
    assert sorted(rows) == [("run_1", "run_started"), ("run_2", "run_failed")]


async def test_a_refusal_that_does_not_come_back_loses_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused three times, then stored: every write of the run is kept, in order."""
    writer = RunWriter(db, _CheckingBus(db), sqlite_fast_path=False)
    real = writer._attempt
    poison = Event("run_1", 5, "content_delta", NOW, {"content": "flaky"})
    failures = 0

    async def attempt(ops: list[Any]) -> BaseException | None:
        nonlocal failures
        if any(payload is poison for _, payload in ops) and failures < 3:
            failures += 1
            return ValueError("refused, for now")
        return await real(ops)

    monkeypatch.setattr(writer, "_attempt", attempt)
    writer.start()
    try:
        writer.create_run(new_run_rows(_run("run_1", "ses_1"), new_session=True, owner_id="me"))
        await writer.flush()
        for seq in range(1, 9):
            writer.append(poison if seq == 5 else Event("run_1", seq, "content_delta", NOW, {}))
        await writer.flush("run_1")
    finally:
        await writer.close()
    assert failures == 3
    async with db.sessions() as s:
        seqs = (await s.execute(select(RunEventRow.seq).order_by(RunEventRow.seq))).scalars().all()
        run = (await s.execute(select(RunRow).where(RunRow.id == "run_1"))).scalar_one()
    assert list(seqs) == list(range(1, 9))
    assert run.last_seq == 8
    assert run.status != "failed"


async def test_when_failing_the_run_fails_too_it_is_left_for_recovery(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = RunWriter(db, _CheckingBus(db), sqlite_fast_path=False)
    ended: list[Any] = []
    writer.on_write_failed.append(ended.append)

    async def storage_gone(*args: Any) -> None:
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(writer, "_fail_run", storage_gone)
    writer.start()
    try:
        writer.create_run(new_run_rows(_run("run_1", "ses_1"), new_session=True, owner_id="me"))
        await writer.flush()
        writer.update_run("run_1", status="running", response_content=UNSTORABLE)
        with pytest.raises(ConnectionResetError):
            await writer.flush("run_1")
        # not marked failed here: its later writes are still taken
        writer.append(Event("run_1", 1, "run_started", NOW, {}))
        await writer.flush("run_1")
    finally:
        await writer.close()
    assert ended == []
    async with db.sessions() as s:
        run = (await s.execute(select(RunRow).where(RunRow.id == "run_1"))).scalar_one()
    assert run.status == "pending"
    assert run.last_seq == 1
