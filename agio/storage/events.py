"""The event log of runs: the one event row, and its reads.

Events are appended by `RunWriter` (a run's own) or, with a conditional run update, by
`LeaseRepository` / `CheckpointRepository` (runs nobody executes); all of them build the
row with `event_row`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from agio.domain.events import Event
from agio.storage.database import Database
from agio.storage.tables import RunEventRow


def event_row(event: Event) -> dict[str, Any]:
    """The `run_events` row of `event`."""
    return {
        "run_id": event.run_id,
        "seq": event.seq,
        "type": event.type,
        "data": event.data,
        "created_at": event.timestamp,
    }


def to_event(row: RunEventRow) -> Event:
    return Event(
        run_id=row.run_id, seq=row.seq, type=row.type, timestamp=row.created_at, data=row.data
    )


class EventRepository:
    """Reads of the event log (`seq` order)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def count_events(self, run_id: str) -> int:
        async with self._db.sessions() as s:
            return (
                await s.execute(
                    select(func.count())
                    .select_from(RunEventRow)
                    .where(RunEventRow.run_id == run_id)
                )
            ).scalar_one()

    async def events(self, run_id: str, *, offset: int = 0, limit: int = 1000) -> list[Event]:
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunEventRow)
                .where(RunEventRow.run_id == run_id)
                .order_by(RunEventRow.seq)
                .offset(offset)
                .limit(limit)
            )
            return [to_event(r) for r in rows.scalars()]

    async def events_after(self, run_id: str, after_seq: int, limit: int = 1000) -> list[Event]:
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunEventRow)
                .where(RunEventRow.run_id == run_id, RunEventRow.seq > after_seq)
                .order_by(RunEventRow.seq)
                .limit(limit)
            )
            return [to_event(r) for r in rows.scalars()]

    async def max_seq(self, run_id: str) -> int:
        """The run's last stored `seq` (0 without events)."""
        async with self._db.sessions() as s:
            value = (
                await s.execute(
                    select(func.max(RunEventRow.seq)).where(RunEventRow.run_id == run_id)
                )
            ).scalar_one_or_none()
            return int(value or 0)
