"""Schedules in the database: the user's reads and changes (conditional on the revision
read, so that a lost race is a 409, never an overwrite) and the scheduler's claim of a
firing, a conditional UPDATE that exactly one process can win.

The claim is `UPDATE schedules SET next_run_at = <the following firing>[, last_run_at =
<this firing>] WHERE id = ? AND next_run_at = <the firing read> AND revision = <the
revision read> AND enabled`: of the processes that read the same due firing, only the one
whose UPDATE changed a row starts the run (SQLite: the write lock serialises the UPDATEs;
PostgreSQL: the second waits for the first's row lock, then finds the row changed and
updates nothing). A user's change in between (a new message, another session) bumps the
revision, so the firing is read again rather than started from what was read before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from agio.domain.schedules import MissedPolicy, Schedule
from agio.storage.components import Page
from agio.storage.database import Database
from agio.storage.tables_schedules import ScheduleRow

#: the columns a user's change may set (with `revision` and `updated_at`)
USER_FIELDS = frozenset(
    {
        "agent_id",
        "agent_name",
        "message",
        "cron",
        "timezone",
        "session_id",
        "enabled",
        "missed",
        "next_run_at",
    }
)


def _schedule(row: ScheduleRow) -> Schedule:
    return Schedule(
        id=row.id,
        agent_id=row.agent_id,
        agent_name=row.agent_name,
        message=row.message,
        cron=row.cron,
        timezone=row.timezone,
        session_id=row.session_id,
        enabled=row.enabled,
        missed=MissedPolicy(row.missed),
        next_run_at=row.next_run_at,
        last_run_at=row.last_run_at,
        last_run_id=row.last_run_id,
        last_error=row.last_error,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        revision=row.revision,
    )


class ScheduleRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ the user's

    async def create(self, values: dict[str, Any]) -> Schedule:
        """Store a new schedule (`values`: every column but `revision`)."""
        row = ScheduleRow(**values, revision=1)
        async with self._db.sessions() as session, session.begin():
            session.add(row)
        return _schedule(row)

    async def get(self, schedule_id: str) -> Schedule | None:
        async with self._db.sessions() as session:
            row = await session.get(ScheduleRow, schedule_id)
            return _schedule(row) if row else None

    async def list_page(
        self,
        *,
        created_by: str | None,
        agent: str | None,
        enabled: bool | None,
        limit: int,
        offset: int,
    ) -> Page[Schedule]:
        """Schedules matching the filters (`created_by` None: everyone's; `agent`: an id
        or a name), newest first."""
        query = select(ScheduleRow)
        if created_by is not None:
            query = query.where(ScheduleRow.created_by == created_by)
        if agent is not None:
            query = query.where(or_(ScheduleRow.agent_id == agent, ScheduleRow.agent_name == agent))
        if enabled is not None:
            query = query.where(ScheduleRow.enabled == enabled)
        async with self._db.sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(ScheduleRow.created_at.desc(), ScheduleRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page(total=int(total or 0), items=[_schedule(r) for r in rows])

    async def update(
        self, schedule_id: str, revision: int, values: dict[str, Any], *, now: datetime
    ) -> Schedule | None:
        """Change a schedule if it is still at `revision`: the changed schedule, or None
        (gone, or changed by someone else since it was read)."""
        unknown = set(values) - USER_FIELDS
        if unknown:
            raise ValueError(f"not a schedule field a user sets: {sorted(unknown)}")
        async with self._db.write_sessions() as session, session.begin():
            result = await session.execute(
                update(ScheduleRow)
                .where(ScheduleRow.id == schedule_id, ScheduleRow.revision == revision)
                .values(**values, revision=revision + 1, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = await session.get(ScheduleRow, schedule_id, populate_existing=True)
            return _schedule(row) if row else None

    async def delete(self, schedule_id: str) -> bool:
        """Delete a schedule; False if there was none. Its runs keep their `schedule_id`."""
        async with self._db.sessions() as session, session.begin():
            result = await session.execute(
                delete(ScheduleRow)
                .where(ScheduleRow.id == schedule_id)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ the scheduler's

    async def due(self, now: datetime, *, limit: int) -> list[Schedule]:
        """Enabled schedules whose next firing is at or before `now`, earliest first."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(ScheduleRow)
                .where(ScheduleRow.next_run_at <= now, ScheduleRow.enabled.is_(True))
                .order_by(ScheduleRow.next_run_at, ScheduleRow.id)
                .limit(limit)
            )
            return [_schedule(r) for r in rows]

    async def earliest(self) -> datetime | None:
        """The earliest next firing of any enabled schedule (None: nothing scheduled)."""
        async with self._db.engine.connect() as connection:
            found: datetime | None = await connection.scalar(
                select(func.min(ScheduleRow.next_run_at)).where(ScheduleRow.enabled.is_(True))
            )
        return found  # min() keeps the column's type: aware UTC

    async def claim(
        self, schedule: Schedule, following: datetime | None, *, fired_at: datetime | None
    ) -> bool:
        """Move `schedule` from the firing it was read at (`next_run_at`) to `following`,
        if nobody did so first and it did not change since it was read; with `fired_at`,
        also record that firing as `last_run_at`. True: this caller won the firing."""
        values: dict[str, Any] = {"next_run_at": following}
        if fired_at is not None:
            values["last_run_at"] = fired_at
        async with self._db.write_engine.begin() as connection:
            result = await connection.execute(
                update(ScheduleRow)
                .where(
                    ScheduleRow.id == schedule.id,
                    ScheduleRow.next_run_at == schedule.next_run_at,
                    ScheduleRow.revision == schedule.revision,
                    ScheduleRow.enabled.is_(True),
                )
                .values(**values)
            )
            return result.rowcount == 1

    async def record(
        self, schedule_id: str, *, run_id: str | None, error: dict[str, Any] | None
    ) -> None:
        """What the firing just claimed led to: its run, or why it started none."""
        async with self._db.write_engine.begin() as connection:
            await connection.execute(
                update(ScheduleRow)
                .where(ScheduleRow.id == schedule_id)
                .values(last_run_id=run_id, last_error=error)
            )
