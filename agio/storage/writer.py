"""Group commit for the runtime: events, steps and run updates of every running run are
written in batches, one transaction each, and published on the bus only once stored.

A run task hands its writes over without waiting (`append`, `save_step`,
`update_run`), so streaming is never held up by one commit per token; it waits
(`flush`) only where durability matters, such as before reporting a run finished. One
writer task keeps everything in order, and concurrent runs share commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agio.bus.base import EventBus
from agio.domain.events import Event
from agio.domain.runs import Step
from agio.storage.database import Database
from agio.storage.sqlite_batch import SQLiteBatchConnection, Statement, TableStatements
from agio.storage.tables import (
    CheckpointRow,
    RunEventRow,
    RunRow,
    RunStepRow,
    SessionMessageRow,
    SessionRow,
)

log = structlog.get_logger(__name__)

_RETRIES = 5
_TERMINAL = ("completed", "failed", "cancelled")
_GATHER_ROUNDS = 2


class WriterClosed(RuntimeError):
    pass


@dataclass
class _Batch:
    new_sessions: list[dict[str, Any]]
    new_runs: list[dict[str, Any]]
    touched_sessions: dict[str, Any]
    events: list[Event]
    steps: list[dict[str, Any]]
    run_updates: dict[str, dict[str, Any]]
    session_messages: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    supersede: list[tuple[str, int]]


class RunWriter:
    def __init__(
        self, db: Database, bus: EventBus, *, max_batch: int = 5000, sqlite_fast_path: bool = True
    ) -> None:
        self._db = db
        self._bus = bus
        self._max_batch = max_batch
        self._ops: list[tuple[str, Any]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: called with every batch of stored events (metrics hooks, tests)
        self.on_stored: list[Callable[[Sequence[Event]], None]] = []
        #: this process's owner id (`RunManager.owner_id`): with it, writes for a run that
        #: another process owns are dropped (fencing, on the SQLAlchemy path)
        self.owner_id: str | None = None
        #: called with the runs whose writes were dropped because another process owns them
        self.on_fenced: list[Callable[[set[str]], None]] = []
        # SQLite: each batch in one hop to a connection of the writer's own (see
        # `agio.storage.sqlite_batch`); PostgreSQL, and SQLite when told, through SQLAlchemy
        self._sqlite: _SQLiteStatements | None = None
        if sqlite_fast_path and db.sqlite_file is not None:
            self._sqlite = _SQLiteStatements(db)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agio-run-writer")

    # ------------------------------------------------------------------ producers

    def _push(self, kind: str, payload: Any) -> None:
        if self._closed:
            raise WriterClosed("the run writer is closed")
        self._ops.append((kind, payload))
        self._wakeup.set()

    def create_run(self, rows: dict[str, Any]) -> None:
        """Insert a run (and its new session, else touch the session): see `new_run_rows`."""
        self._push("new_run", rows)

    def save_checkpoint(self, row: dict[str, Any]) -> None:
        self._push("checkpoint", row)

    def supersede_steps(self, run_id: str, after_step: int) -> None:
        """Mark the run's steps after `after_step` superseded (restore in place, recovery)."""
        self._push("supersede", (run_id, after_step))

    def append(self, event: Event) -> None:
        self._push("event", event)

    def save_step(self, step: Step) -> None:
        self._push("step", step)

    def update_run(self, run_id: str, **values: Any) -> None:
        self._push("run", (run_id, values))

    def add_session_messages(self, rows: list[dict[str, Any]]) -> None:
        self._push("session_messages", rows)

    async def flush(self) -> None:
        """Return once everything handed over so far is stored and published."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._push("barrier", future)
        await future

    @property
    def backlog(self) -> int:
        return len(self._ops)

    # ------------------------------------------------------------------ the writer task

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            # Let the producers that are ready run first: what they hand over joins this
            # commit instead of paying for one of its own (no timer, so no added latency
            # when nothing else is ready).
            for _ in range(_GATHER_ROUNDS):
                await asyncio.sleep(0)
            while self._ops:
                ops = self._ops[: self._max_batch]
                del self._ops[: self._max_batch]
                await self._write(ops)
            if self._closed:
                return

    async def _write(self, ops: list[tuple[str, Any]]) -> None:
        events: list[Event] = []
        steps: list[dict[str, Any]] = []
        runs: dict[str, dict[str, Any]] = {}
        session_rows: list[dict[str, Any]] = []
        new_sessions: list[dict[str, Any]] = []
        new_runs: list[dict[str, Any]] = []
        touched: dict[str, Any] = {}
        checkpoints: list[dict[str, Any]] = []
        supersede: list[tuple[str, int]] = []
        barriers: list[asyncio.Future[None]] = []
        for kind, payload in ops:
            if kind == "event":
                events.append(payload)
                runs.setdefault(payload.run_id, {})["last_seq"] = payload.seq
            elif kind == "step":
                # the SQLAlchemy path binds values after awaits: it gets a deep copy; the
                # SQLite fast path binds them before this method next awaits
                steps.append(asdict(payload) if self._sqlite is None else _shallow(payload))
            elif kind == "run":
                run_id, values = payload
                runs.setdefault(run_id, {}).update(values)
            elif kind == "new_run":
                if payload["session"] is not None:
                    new_sessions.append(payload["session"])
                else:
                    touched[payload["run"]["session_id"]] = payload["run"]["created_at"]
                new_runs.append(payload["run"])
            elif kind == "checkpoint":
                checkpoints.append(payload)
            elif kind == "supersede":
                supersede.append(payload)
            elif kind == "session_messages":
                session_rows.extend(payload)
            else:
                barriers.append(payload)
        error: BaseException | None = None
        if events or steps or runs or session_rows or new_runs or checkpoints or supersede:
            batch = _Batch(
                new_sessions,
                new_runs,
                touched,
                events,
                steps,
                runs,
                session_rows,
                checkpoints,
                supersede,
            )
            statements: list[Statement] | None = None
            fenced: set[str] = set()
            for attempt in range(_RETRIES):
                try:
                    if self._sqlite is None:
                        # `_commit` drops fenced writes from the batch itself: a retry finds
                        # nothing more to drop, so what the first attempt found is kept
                        fenced |= await self._commit(batch)
                    else:
                        if statements is None:
                            statements = self._sqlite.prepare(batch)
                        await self._sqlite.connection.run(statements)
                    error = None
                    break
                except Exception as exc:  # storage hiccup: retry, then give up loudly
                    error = exc
                    log.warning(
                        "run_writer_retry", attempt=attempt + 1, error_type=type(exc).__name__
                    )
                    await asyncio.sleep(0.05 * 2**attempt)
            if error is not None:
                log.error(
                    "run_writer_failed",
                    events=len(events),
                    steps=len(steps),
                    error_type=type(error).__name__,
                )
            else:
                if fenced:
                    events = [e for e in events if e.run_id not in fenced]
                    self._fenced(fenced)
                await self._publish(events)
        for barrier in barriers:
            if not barrier.done():
                if error is None:
                    barrier.set_result(None)
                else:
                    barrier.set_exception(error)

    def _fenced(self, run_ids: set[str]) -> None:
        log.warning("run_writes_fenced", runs=sorted(run_ids))
        for hook in self.on_fenced:
            try:
                hook(run_ids)
            except Exception as exc:  # a hook must never stop the writer
                log.warning("run_writer_hook_failed", error_type=type(exc).__name__)

    async def _fence(self, s: AsyncConnection, b: _Batch) -> set[str]:
        """Lock the rows of the runs this batch writes for (PostgreSQL: `FOR UPDATE`, so a
        claim by another process waits for this commit) and drop the writes for those that
        another process owns now, or that have ended: a process that lost a run's lease
        never writes to it again, however late it notices. Returns the runs dropped."""
        if self.owner_id is None:
            return set()
        created = {row["id"] for row in b.new_runs}
        touched = (
            {e.run_id for e in b.events}
            | {row["run_id"] for row in b.steps}
            | {row["run_id"] for row in b.checkpoints}
            | {row["run_id"] for row in b.session_messages}
            | {run_id for run_id, _ in b.supersede}
            | set(b.run_updates)
        ) - created
        if not touched:
            return set()
        rows = await s.execute(
            select(RunRow.id, RunRow.owner_id, RunRow.status)
            .where(RunRow.id.in_(sorted(touched)))
            .order_by(RunRow.id)  # one lock order for every writer: no deadlocks
            .with_for_update()
        )
        # another process's run, or one that has already ended (failed as an orphan, say,
        # while this process stalled): nothing more of this process's may land there
        fenced = {
            run_id
            for run_id, owner, status in rows
            if (owner is not None and owner != self.owner_id) or status in _TERMINAL
        }
        if fenced:
            b.events = [e for e in b.events if e.run_id not in fenced]
            b.steps = [r for r in b.steps if r["run_id"] not in fenced]
            b.checkpoints = [r for r in b.checkpoints if r["run_id"] not in fenced]
            b.session_messages = [r for r in b.session_messages if r["run_id"] not in fenced]
            b.supersede = [(r, n) for r, n in b.supersede if r not in fenced]
            b.run_updates = {r: v for r, v in b.run_updates.items() if r not in fenced}
        return fenced

    async def _commit(self, b: _Batch) -> set[str]:
        async with self._db.write_engine.begin() as s:
            fenced = await self._fence(s, b)
            if b.new_sessions:
                await s.execute(insert(SessionRow), b.new_sessions)
            if b.new_runs:
                await s.execute(insert(RunRow), b.new_runs)
            for session_id, when in b.touched_sessions.items():
                await s.execute(
                    update(SessionRow).where(SessionRow.id == session_id).values(updated_at=when)
                )
            if b.events:
                await s.execute(
                    insert(RunEventRow),
                    [
                        {
                            "run_id": e.run_id,
                            "seq": e.seq,
                            "type": e.type,
                            "data": e.data,
                            "created_at": e.timestamp,
                        }
                        for e in b.events
                    ],
                )
            for run_id, after_step in b.supersede:
                await s.execute(
                    update(RunStepRow)
                    .where(RunStepRow.run_id == run_id, RunStepRow.step_num > after_step)
                    .values(superseded=True)
                )
            if b.steps:
                await s.execute(insert(RunStepRow), b.steps)
            if b.checkpoints:
                await s.execute(insert(CheckpointRow), b.checkpoints)
            if b.session_messages:
                await s.execute(insert(SessionMessageRow), b.session_messages)
            for run_id, values in b.run_updates.items():
                # a terminal state is final, whoever writes late
                await s.execute(
                    update(RunRow)
                    .where(RunRow.id == run_id, RunRow.status.not_in(_TERMINAL))
                    .values(**values)
                )
        return fenced

    async def _publish(self, events: list[Event]) -> None:
        if not events:
            return
        by_run: dict[str, list[Event]] = {}
        for event in events:
            by_run.setdefault(event.run_id, []).append(event)
        for run_id, batch in by_run.items():
            try:
                await self._bus.publish(run_id, batch)
            except Exception as exc:  # readers fall back to the event log
                log.warning("bus_publish_failed", run_id=run_id, error_type=type(exc).__name__)
        for hook in self.on_stored:
            try:
                hook(events)
            except Exception as exc:  # a hook must never stop the writer
                log.warning("run_writer_hook_failed", error_type=type(exc).__name__)

    async def close(self) -> None:
        """Store what is pending, then stop."""
        if self._task is None:
            return
        self._closed = True
        self._wakeup.set()
        await self._task
        self._task = None
        if self._sqlite is not None:
            await self._sqlite.connection.close()


_EVENT_COLUMNS = ("run_id", "seq", "type", "data", "created_at")
_STEP_FIELDS = tuple(f.name for f in fields(Step))


def _shallow(step: Step) -> dict[str, Any]:
    return {name: getattr(step, name) for name in _STEP_FIELDS}


class _SQLiteStatements:
    """A batch as the statements `_commit` would execute, in the same order, bound for
    `SQLiteBatchConnection` (see `agio.storage.sqlite_batch`)."""

    def __init__(self, db: Database) -> None:
        dialect = db.engine.dialect
        self.connection = SQLiteBatchConnection(db.sqlite_connect)
        self._sessions = TableStatements(SessionRow, dialect)
        self._runs = TableStatements(RunRow, dialect)
        self._events = TableStatements(RunEventRow, dialect)
        self._steps = TableStatements(RunStepRow, dialect)
        self._checkpoints = TableStatements(CheckpointRow, dialect)
        self._messages = TableStatements(SessionMessageRow, dialect)
        self._touch_sql = self._sessions.update_sql(("updated_at",), '"id" = ?')
        self._supersede_sql = self._steps.update_sql(
            ("superseded",), '"run_id" = ? AND "step_num" > ?'
        )
        self._superseded = self._steps.bind("superseded", True)
        self._terminal = tuple(self._runs.bind("status", status) for status in _TERMINAL)
        self._run_where = '"id" = ? AND "status" NOT IN ({})'.format(
            ", ".join("?" for _ in _TERMINAL)
        )

    def prepare(self, b: _Batch) -> list[Statement]:
        out: list[Statement] = []
        if b.new_sessions:
            out += self._sessions.insert(b.new_sessions)
        if b.new_runs:
            out += self._runs.insert(b.new_runs)
        if b.touched_sessions:
            bind = self._sessions.bind
            out.append(
                (
                    self._touch_sql,
                    [(bind("updated_at", w), s) for s, w in b.touched_sessions.items()],
                )
            )
        if b.events:
            out += self._events.insert_values(
                _EVENT_COLUMNS, [(e.run_id, e.seq, e.type, e.data, e.timestamp) for e in b.events]
            )
        if b.supersede:
            out.append(
                (
                    self._supersede_sql,
                    [(self._superseded, run_id, after) for run_id, after in b.supersede],
                )
            )
        if b.steps:
            out += self._steps.insert(b.steps)
        if b.checkpoints:
            out += self._checkpoints.insert(b.checkpoints)
        if b.session_messages:
            out += self._messages.insert(b.session_messages)
        bind = self._runs.bind
        for run_id, values in b.run_updates.items():
            # a terminal state is final, whoever writes late
            keys = tuple(values)
            out.append(
                (
                    self._runs.update_sql(keys, self._run_where),
                    [
                        (
                            *(bind(key, values[key]) for key in keys),
                            bind("id", run_id),
                            *self._terminal,
                        )
                    ],
                )
            )
        return out
