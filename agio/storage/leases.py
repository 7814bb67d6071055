"""Who executes a run: claiming it, the heartbeat of the lease, orphans and failing them,
giving runs back, state changes of runs nobody executes, and the durable control flags
that a run's owner polls. Every change here is a conditional update: it takes effect only
if the run is still as the caller read it, and says whether it did."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, or_, select, update

from agio.domain.events import Event
from agio.domain.runs import ACTIVE_STATUSES, Run, RunStatus
from agio.domain.time import utcnow
from agio.storage.database import Database
from agio.storage.events import event_row
from agio.storage.run_rows import to_run
from agio.storage.sessions import NewSessionMessage
from agio.storage.tables import RunEventRow, RunRow, SessionMessageRow, unfinished_runs
from agio.storage.webhook_outbox import store_outbox

_ACTIVE = tuple(status.value for status in ACTIVE_STATUSES)


def _stale(stale_before: datetime) -> ColumnElement[bool]:
    """The lease ran out (no heartbeat since `stale_before`) or was handed back."""
    return or_(RunRow.heartbeat_at < stale_before, RunRow.heartbeat_at.is_(None))


class LeaseRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ ownership

    async def claim(
        self, run: Run, owner_id: str, *, recovery: bool, stale_before: datetime | None = None
    ) -> bool:
        """Take ownership of a run that nobody executes, if it is still as read (`status`,
        `recovery_count`): with `recovery`, one whose lease ran out (counted in
        `recovery_count`); without, one that has no owner and no event since it was read
        (`last_seq`). A paused run claimed to continue
        is `running` from this moment. The control flag read with it (the claimer applies
        it: `recover`) is cleared here; the claim fails if another was set since it was
        read, and one set after it stays for the new owner's maintenance to apply."""
        values: dict[str, Any] = {"owner_id": owner_id, "heartbeat_at": utcnow(), "control": None}
        if run.status in (RunStatus.PAUSED, RunStatus.WAITING_APPROVAL):
            values["status"] = RunStatus.RUNNING.value
        if recovery:
            values["recovery_count"] = run.recovery_count + 1
        async with self._db.write_sessions() as s, s.begin():
            query = update(RunRow).where(
                RunRow.id == run.id,
                RunRow.status == run.status.value,
                RunRow.recovery_count == run.recovery_count,
                # a flag set since it was read is not cleared unseen: the claim fails
                RunRow.control.is_(None) if run.control is None else RunRow.control == run.control,
            )
            if recovery:
                query = query.where(
                    or_(
                        RunRow.heartbeat_at.is_(None),
                        RunRow.heartbeat_at < (stale_before or utcnow()),
                    )
                )
            else:
                # nobody owns it, and nothing happened to it since it was read: a claimer
                # that read it before another one continued it and handed it back again
                # (a second round of approvals, a second pause) continues nothing stale
                query = query.where(RunRow.owner_id.is_(None), RunRow.last_seq == run.last_seq)
            result = await s.execute(query.values(**values))
            return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    async def heartbeat(self, owner_id: str, run_ids: Sequence[str]) -> set[str]:
        """Renew this process's lease on `run_ids`; returns those it still owns."""
        if not run_ids:
            return set()
        async with self._db.write_sessions() as s, s.begin():
            result = await s.execute(
                update(RunRow)
                .where(RunRow.id.in_(run_ids), RunRow.owner_id == owner_id)
                .values(heartbeat_at=utcnow())
                .returning(RunRow.id)
            )
            return set(result.scalars())

    async def release(self, run_ids: Sequence[str], owner_id: str) -> None:
        """Give runs back (graceful shutdown): another process may take them at once."""
        if not run_ids:
            return
        async with self._db.write_sessions() as s, s.begin():
            await s.execute(
                update(RunRow)
                .where(RunRow.id.in_(run_ids), RunRow.owner_id == owner_id)
                .values(owner_id=None, heartbeat_at=None)
            )

    # ------------------------------------------------------------------ orphans

    async def orphaned_runs(self, stale_before: datetime) -> list[Run]:
        """Pending and running runs whose owner stopped heartbeating or handed them back
        (every heartbeat period: from the partial index of unfinished runs). A queued run
        has no owner yet and is none of these: it starts when its session is free."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunRow).where(
                    unfinished_runs(),
                    RunRow.status.in_(_ACTIVE),
                    _stale(stale_before),
                    RunRow.queue_rank.is_(None),
                )
            )
            return [to_run(r) for r in rows.scalars()]

    async def fail_orphan(
        self, run: Run, event: Event, error: dict[str, Any], stale_before: datetime
    ) -> bool:
        """Mark an orphaned run failed with its final event, unless someone else claimed or
        changed it in the meantime."""
        async with self._db.write_sessions() as s, s.begin():
            result = await s.execute(
                update(RunRow)
                .where(
                    RunRow.id == run.id,
                    RunRow.last_seq == run.last_seq,
                    RunRow.recovery_count == run.recovery_count,
                    RunRow.status.in_(_ACTIVE),
                    _stale(stale_before),
                )
                .values(
                    status=RunStatus.FAILED.value,
                    error=error,
                    ended_at=event.timestamp,
                    last_seq=event.seq,
                    owner_id=None,
                    session_slot=None,  # an ended run holds its session no more
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            await s.execute(insert(RunEventRow), [event_row(event)])
            await store_outbox(await s.connection(), [event])  # --- webhooks
            return True

    # ------------------------------------------------------------------ runs nobody executes

    async def transition(
        self,
        run: Run,
        target: RunStatus,
        event: Event,
        *,
        session_messages: Sequence[NewSessionMessage] = (),
        **values: Any,
    ) -> bool:
        """Change the status of a run nobody executes (paused, or pending/orphaned), with
        its event, if it is still as read (`status` and `last_seq`) and has no owner. A run
        that ends gives its session back (and a queued one leaves the queue) in the same
        statement; `session_messages` join its session in the same transaction."""
        if target.terminal:
            values.update(session_slot=None, queue_rank=None)
        async with self._db.write_sessions() as s, s.begin():
            result = await s.execute(
                update(RunRow)
                .where(
                    RunRow.id == run.id,
                    RunRow.status == run.status.value,
                    RunRow.last_seq == run.last_seq,
                    RunRow.owner_id.is_(None),
                )
                .values(status=target.value, last_seq=event.seq, control=None, **values)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            await s.execute(insert(RunEventRow), [event_row(event)])
            if session_messages:
                await s.execute(insert(SessionMessageRow), list(session_messages))
            await store_outbox(await s.connection(), [event])  # --- webhooks
            return True

    # ------------------------------------------------------------------ control flags

    async def set_control(self, run_id: str, control: str) -> None:
        """Ask the run's owner (another process) to pause or cancel it."""
        async with self._db.write_sessions() as s, s.begin():
            await s.execute(update(RunRow).where(RunRow.id == run_id).values(control=control))

    async def controls_for(self, owner_id: str) -> dict[str, str]:
        """{run_id: control} for the runs this process owns that were asked to change
        (polled several times a second: from the partial index of unfinished runs by
        owner; an ended run has no owner)."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunRow.id, RunRow.control).where(
                    unfinished_runs(), RunRow.owner_id == owner_id, RunRow.control.is_not(None)
                )
            )
            return {run_id: control for run_id, control in rows if control}
