"""One run in progress per session (SPEC §12), kept by the database: a run holds its
session while `runs.session_slot` is the session's id, under a unique index, so no two
runs ever hold one session, whichever process or replica wrote them.

A run takes the slot in the INSERT that creates it (`new_run_rows(holds_session=True)`),
or, queued, in the conditional UPDATE that starts it (`take_slot`, here); every write
that ends a run gives it back in the same statement (the writer's batches, the lease
repository's transitions and orphan failures, the writer's own failure of a refused run).
A queued run (`queue_rank` set) waits without the slot; the next one of a session is its
queued run of the lowest rank, the oldest first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from agio.domain.runs import IN_PROGRESS_STATUSES, Run, RunStatus
from agio.domain.time import utcnow
from agio.storage.database import Database
from agio.storage.run_rows import to_run
from agio.storage.tables import RunRow, unfinished_runs

_holder = aliased(RunRow)


def _queued() -> ColumnElement[bool]:
    """A queued run: pending, with a rank (from the partial indexes of unfinished runs)."""
    return (
        unfinished_runs()
        & (RunRow.status == RunStatus.PENDING.value)
        & RunRow.queue_rank.is_not(None)
    )


def _slot_free(session_id: Any) -> ColumnElement[bool]:
    """No run holds the session `session_id` (a column or a value)."""
    return ~exists().where(_holder.session_slot == session_id)


_QUEUE_ORDER = (RunRow.queue_rank, RunRow.created_at, RunRow.id)
_IN_PROGRESS = tuple(status.value for status in IN_PROGRESS_STATUSES)


class SessionSlotRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def session_holder(self, session_id: str) -> Run | None:
        """The session's run in progress (the run holding its slot), if any."""
        async with self._db.sessions() as s:
            row = (
                await s.execute(select(RunRow).where(RunRow.session_slot == session_id))
            ).scalar_one_or_none()
            return None if row is None else to_run(row)

    async def queued_runs(self, session_id: str, *, limit: int = 100) -> list[Run]:
        """The session's queued runs, in the order they will start."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunRow)
                .where(_queued(), RunRow.session_id == session_id)
                .order_by(*_QUEUE_ORDER)
                .limit(limit)
            )
            return [to_run(r) for r in rows.scalars()]

    async def next_to_start(self, session_id: str) -> Run | None:
        """The session's next queued run, if its slot is free (one query: it is asked
        whenever a run ends)."""
        async with self._db.sessions() as s:
            row = (
                await s.execute(
                    select(RunRow)
                    .where(_queued(), RunRow.session_id == session_id, _slot_free(session_id))
                    .order_by(*_QUEUE_ORDER)
                    .limit(1)
                )
            ).scalar_one_or_none()
            return None if row is None else to_run(row)

    async def sessions_to_advance(self, *, limit: int = 100) -> list[str]:
        """Sessions with queued runs whose slot is free: the ones whose holder ended in a
        process that could not start the next run (it died, or it stopped first)."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunRow.session_id)
                .where(_queued(), _slot_free(RunRow.session_id))
                .distinct()
                .limit(limit)
            )
            return list(rows.scalars())

    async def release_ended(self) -> list[str]:
        """Give back the slots of runs that have ended but still hold their session, and
        return those sessions. Every write that ends a run gives its session back, so
        this finds nothing; it is the maintenance's safety net (from the unique index's
        rows only), so that a write that forgot cannot leave a session busy for ever."""
        # in the order of the slots' index, so that the plan reads that index (the runs
        # holding one: as many as are in progress), whatever the statistics say; then by
        # id, only when there is anything to give back
        async with self._db.write_sessions() as s, s.begin():
            kept = (
                await s.execute(
                    select(RunRow.id)
                    .where(RunRow.session_slot.is_not(None), RunRow.status.not_in(_IN_PROGRESS))
                    .order_by(RunRow.session_slot)
                    .limit(100)
                )
            ).scalars()
            ids = list(kept)
            if not ids:
                return []
            result = await s.execute(
                update(RunRow)
                .where(RunRow.id.in_(ids), RunRow.status.not_in(_IN_PROGRESS))
                .values(session_slot=None)
                .returning(RunRow.session_id)
            )
            return list(result.scalars())

    async def take_slot(self, run: Run, owner_id: str) -> bool:
        """Start a queued run: in one conditional UPDATE it takes its session's slot (only
        if free), stops being queued and becomes this process's to execute (a claim, as
        recovery's). False if the slot is held (another run, perhaps one that another
        process started at the same moment: the unique index refuses the second) or the
        run is no longer queued (cancelled, started elsewhere)."""
        now = utcnow()
        try:
            async with self._db.write_sessions() as s, s.begin():
                result = await s.execute(
                    update(RunRow)
                    .where(
                        RunRow.id == run.id,
                        RunRow.status == RunStatus.PENDING.value,
                        RunRow.queue_rank.is_not(None),
                        RunRow.owner_id.is_(None),
                        _slot_free(run.session_id),
                    )
                    .values(
                        session_slot=run.session_id,
                        queue_rank=None,
                        owner_id=owner_id,
                        heartbeat_at=now,
                    )
                )
                taken = bool(result.rowcount == 1)  # type: ignore[attr-defined]
        except IntegrityError:  # another run took the slot between our read and write
            return False
        if taken:
            run.queue_rank, run.owner_id = None, owner_id
        return taken
