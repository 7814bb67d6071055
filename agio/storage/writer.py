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
from typing import Any

import structlog
from sqlalchemy import ColumnElement, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agio.domain.events import RUN_FAILED, Event
from agio.domain.publisher import EventPublisher
from agio.domain.runs import Step
from agio.domain.time import utcnow
from agio.storage.checkpoints import NewCheckpoint
from agio.storage.core_batch import lock_runs, store
from agio.storage.database import Database
from agio.storage.events import event_row
from agio.storage.sessions import NewSessionMessage
from agio.storage.sqlite_batch import WriterStatements
from agio.storage.tables import RunEventRow, RunRow
from agio.storage.webhook_outbox import store_outbox
from agio.storage.write_batch import (
    TERMINAL,
    Batch,
    Op,
    by_run,
    collect,
    reason,
    run_of,
    transient,
)

log = structlog.get_logger(__name__)

_RETRIES = 5
_FAILED_KEPT = 10_000
_GATHER_ROUNDS = 2


class WriterClosed(RuntimeError):
    """A write handed to the writer after `close()`."""


class RunWriteFailed(RuntimeError):
    """The run's writes could not be stored; the writer ended it `failed`."""

    def __init__(self, run_id: str, error: dict[str, Any]) -> None:
        super().__init__(f"run {run_id}: {error['message']}")
        self.run_id = run_id
        self.error = error


class RunWriter:
    def __init__(
        self,
        db: Database,
        bus: EventPublisher,
        *,
        max_batch: int = 5000,
        sqlite_fast_path: bool = True,
        owner_id: str | None = None,
        on_stored: Sequence[Callable[[Sequence[Event]], None]] = (),
    ) -> None:
        """`owner_id`: this process's owner id, which turns fencing on (see below);
        `on_stored`: called with every batch of stored events. The runtime attaches its
        `on_fenced` and `on_write_failed` hooks itself (`RunManager`)."""
        self._db = db
        self._bus = bus
        self._max_batch = max_batch
        self._ops: list[Op] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: called with every batch of stored events (metrics hooks, tests)
        self.on_stored: list[Callable[[Sequence[Event]], None]] = list(on_stored)
        #: this process's owner id (`RunManager.owner_id`): with it, writes for a run that
        #: another process owns are dropped (fencing, on the SQLAlchemy path)
        self.owner_id: str | None = owner_id
        #: called with the runs whose writes were dropped because another process owns them
        self.on_fenced: list[Callable[[set[str]], None]] = []
        #: called with the runs (and their `error`) that the writer ended `failed` because
        #: their writes could not be stored; their later writes are dropped
        self.on_write_failed: list[Callable[[dict[str, dict[str, Any]]], None]] = []
        self._failed: dict[str, dict[str, Any]] = {}
        # SQLite: each batch in one hop to a connection of the writer's own (see
        # `agio.storage.sqlite_batch`); PostgreSQL, and SQLite when told, through SQLAlchemy
        self._sqlite: WriterStatements | None = None
        if sqlite_fast_path and db.sqlite_file is not None:
            self._sqlite = WriterStatements(db)

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

    def save_checkpoint(self, row: NewCheckpoint) -> None:
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

    def add_session_messages(self, rows: list[NewSessionMessage]) -> None:
        self._push("session_messages", rows)

    def save_model_call(self, row: dict[str, Any]) -> None:
        """A row of the model-call log (`agio.storage.tables_model_calls`)."""
        self._push("model_call", row)

    async def flush(self, run_id: str | None = None) -> None:
        """Return once everything handed over so far is stored and published. With
        `run_id`: raise `RunWriteFailed` if that run's writes were refused."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._push("barrier", (future, run_id))
        await future

    def watched(self, run_id: str) -> bool:
        """Somebody in this process follows the run's events as they are published."""
        return self._bus.subscriber_count(run_id) > 0

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

    async def _write(self, ops: list[Op]) -> None:
        barriers = [payload for kind, payload in ops if kind == "barrier"]
        ops = [op for op in ops if op[0] != "barrier" and run_of(op) not in self._failed]
        unstored: dict[str, BaseException] = {}
        if ops:
            unstored = await self._store(ops)
        anything = next(iter(unstored.values()), None)
        for future, run_id in barriers:
            if future.done():
                continue
            # a run's barrier answers for that run; one without a run for everything
            error = anything if run_id is None else unstored.get(run_id)
            if error is not None:
                future.set_exception(error)
            elif run_id is not None and run_id in self._failed:
                future.set_exception(RunWriteFailed(run_id, self._failed[run_id]))
            else:
                future.set_result(None)

    async def _store(self, ops: list[Op]) -> dict[str, BaseException]:
        """Store and publish `ops` in one transaction; returns the runs whose writes could
        not be stored, with why. A write the database refuses for its data (a NUL
        character on PostgreSQL, text that is not Unicode) fails only its own run: the
        batch is split by run, every other run's writes are stored and published at once,
        the refused run keeps what it wrote before that write and ends `failed`
        (`_fail_runs`)."""
        error = await self._attempt(ops)
        if error is None:
            return {}
        groups = by_run(ops)
        if transient(error):  # storage is unavailable: nothing to single out
            return dict.fromkeys(groups, error)
        unstored: dict[str, BaseException] = {}
        refused_runs: dict[str, str] = {}
        for run_id, run_ops in groups.items():
            run_error = await self._attempt(run_ops)
            if run_error is not None and not transient(run_error):
                run_error = await self._store_until_refused(run_ops, run_error)
            if run_error is None:
                continue
            if transient(run_error):
                unstored[run_id] = run_error
            else:
                refused_runs[run_id] = reason(run_error)
        if refused_runs:
            unstored.update(await self._fail_runs(refused_runs))
        return unstored

    async def _store_until_refused(
        self, ops: list[Op], error: BaseException
    ) -> BaseException | None:
        """One run's `ops`, refused together (with `error`): store everything before the
        first write that the database refuses (found by halves, a transaction for each),
        so that the run keeps all it wrote up to it. Returns that write's error, or None
        if all of it got stored after all (a refusal that did not come back), or a
        transient error."""
        start = 0  # ops[:start] are stored; ops[start:] failed together with `error`
        while start < len(ops):
            lo, hi = start, len(ops)
            known = True  # ops[lo:hi] is known to fail (with `error`)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                half = await self._attempt(ops[lo:mid])
                if half is None:
                    lo, known = mid, False  # stored; what fails is (believed) after it
                elif transient(half):
                    return half
                else:
                    hi, known, error = mid, True, half
            if not known:
                retried = await self._attempt(ops[lo:hi])
                if retried is None:  # it did not fail again: go on with what follows
                    start = hi
                    if start < len(ops):
                        retried = await self._attempt(ops[start:])
                        if retried is None:
                            return None
                        if transient(retried):
                            return retried
                        error = retried  # ops[start:] failed together again
                    continue
                if transient(retried):
                    return retried
                error = retried
            return error  # ops[lo] is refused; ops[:lo] are stored
        return None

    async def _attempt(self, ops: list[Op]) -> BaseException | None:
        """One transaction for `ops` (retried while the failure looks transient); on
        success their events are published. Returns the error that stopped it."""
        error: BaseException | None = None
        for attempt in range(_RETRIES):
            batch = collect(ops, copy_steps=self._sqlite is None)
            try:
                if self._sqlite is None:
                    # `_commit` drops fenced writes from the batch itself
                    fenced = await self._commit(batch)
                else:
                    fenced = set()
                    await self._sqlite.connection.run(self._sqlite.prepare(batch))
            except Exception as exc:
                if not transient(exc):
                    return exc  # the same writes would fail the same way
                error = exc
                log.warning("run_writer_retry", attempt=attempt + 1, error_type=type(exc).__name__)
                await asyncio.sleep(0.05 * 2**attempt)
                continue
            events = batch.events
            if fenced:
                events = [e for e in events if e.run_id not in fenced]
                self._fenced(fenced)
            await self._publish(events)
            return None
        log.error("run_writer_failed", ops=len(ops), error_type=type(error).__name__)
        return error

    async def _fail_runs(self, refused_runs: dict[str, str]) -> dict[str, BaseException]:
        """End each run whose writes were refused: `failed`, with a `run_failed` event right
        after the last one stored, in a transaction of its own (retried like any write);
        its later writes are dropped and its task is stopped (`on_write_failed`). A run
        that another process owns now is left to it. Returns the runs that could not be
        failed (storage went away), which stay as they are for recovery."""
        ended: dict[str, dict[str, Any]] = {}
        events: list[Event] = []
        error: BaseException | None = None
        for attempt in range(_RETRIES):
            ended, events = {}, []
            try:
                async with self._db.write_engine.begin() as s:
                    for run_id, why in refused_runs.items():
                        event = await self._fail_run(s, run_id, why)
                        if event is not None:
                            ended[run_id] = event.data["error"]
                            events.append(event)
                error = None
                break
            except Exception as exc:
                error = exc
                log.warning("run_writer_retry", attempt=attempt + 1, error_type=type(exc).__name__)
                await asyncio.sleep(0.05 * 2**attempt)
        if error is not None:
            log.error(
                "run_writer_failed", runs=sorted(refused_runs), error_type=type(error).__name__
            )
            return dict.fromkeys(refused_runs, error)
        for run_id, why in refused_runs.items():
            log.error("run_write_refused", run_id=run_id, reason=why)
            self._remember_failed(
                run_id, ended.get(run_id) or {"type": "StorageFailed", "message": why}
            )
        if ended:
            for hook in self.on_write_failed:
                try:
                    hook(ended)
                except Exception as exc:  # a hook must never stop the writer
                    log.warning("run_writer_hook_failed", error_type=type(exc).__name__)
        await self._publish(events)
        return {}

    async def _fail_run(self, s: AsyncConnection, run_id: str, why: str) -> Event | None:
        error = {
            "type": "StorageFailed",
            "message": f"A write of this run could not be stored ({why}); "
            "what it produced before that is kept",
        }
        # not another process's (with fencing on: `owner_id` set)
        owner: ColumnElement[bool] = true()
        if self.owner_id is not None:
            owner = or_(RunRow.owner_id.is_(None), RunRow.owner_id == self.owner_id)
        row = (
            await s.execute(
                select(RunRow.id)
                .where(RunRow.id == run_id, RunRow.status.not_in(TERMINAL), owner)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None  # never stored, ended already, or another process's now
        seq = (
            await s.execute(select(func.max(RunEventRow.seq)).where(RunEventRow.run_id == run_id))
        ).scalar_one_or_none() or 0
        now = utcnow()
        await s.execute(
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(
                status="failed",
                error=error,
                ended_at=now,
                last_seq=seq + 1,
                owner_id=None,
                control=None,
                session_slot=None,  # an ended run holds its session no more
            )
        )
        event = Event(run_id, seq + 1, RUN_FAILED, now, {"run_id": run_id, "error": error})
        await s.execute(insert(RunEventRow), [event_row(event)])
        await store_outbox(s, [event])  # --- webhooks
        return event

    def _remember_failed(self, run_id: str, error: dict[str, Any]) -> None:
        self._failed[run_id] = error
        while len(self._failed) > _FAILED_KEPT:
            self._failed.pop(next(iter(self._failed)))

    def _fenced(self, run_ids: set[str]) -> None:
        log.warning("run_writes_fenced", runs=sorted(run_ids))
        for hook in self.on_fenced:
            try:
                hook(run_ids)
            except Exception as exc:  # a hook must never stop the writer
                log.warning("run_writer_hook_failed", error_type=type(exc).__name__)

    async def _fence(self, s: AsyncConnection, b: Batch) -> set[str]:
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
            | {row["run_id"] for row in b.model_calls}
            | {run_id for run_id, _ in b.supersede}
            | set(b.run_updates)
        ) - created
        if not touched:
            return set()
        rows = await lock_runs(s, list(touched))
        # another process's run, or one that has already ended (failed as an orphan, say,
        # while this process stalled): nothing more of this process's may land there
        fenced = {
            run_id
            for run_id, owner, status in rows
            if (owner is not None and owner != self.owner_id) or status in TERMINAL
        }
        if fenced:
            b.events = [e for e in b.events if e.run_id not in fenced]
            b.steps = [r for r in b.steps if r["run_id"] not in fenced]
            b.checkpoints = [r for r in b.checkpoints if r["run_id"] not in fenced]
            b.session_messages = [r for r in b.session_messages if r["run_id"] not in fenced]
            b.model_calls = [r for r in b.model_calls if r["run_id"] not in fenced]
            b.supersede = [(r, n) for r, n in b.supersede if r not in fenced]
            b.run_updates = {r: v for r, v in b.run_updates.items() if r not in fenced}
        return fenced

    async def _commit(self, b: Batch) -> set[str]:
        async with self._db.write_engine.begin() as s:
            fenced = await self._fence(s, b)
            await store(s, b)
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
