"""Runs for the run repositories' conformance tests: made through the `RunWriter` (as the
runtime makes them), with direct updates to put a run in the state a test needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from agio.bus.memory import InProcessBus
from agio.domain.events import Event
from agio.domain.runs import Run, RunStatus
from agio.storage.database import Database
from agio.storage.runs import RunRepository, new_run_rows
from agio.storage.tables import RunRow
from agio.storage.writer import RunWriter

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_run(
    run_id: str,
    session_id: str,
    *,
    user_id: str | None = "u1",
    agent_id: str = "agt_1",
    agent_name: str = "helper",
    minutes: int = 0,
) -> Run:
    """A pending run created `minutes` after `NOW`."""
    return Run(
        id=run_id,
        agent_id=agent_id,
        agent_name=agent_name,
        session_id=session_id,
        user_id=user_id,
        status=RunStatus.PENDING,
        input_query=f"question of {run_id}",
        response_content=None,
        error=None,
        metrics={},
        agent_config={"agent_id": agent_id, "model": {"name": "m"}},
        created_at=NOW + timedelta(minutes=minutes),
        started_at=None,
        ended_at=None,
        last_seq=0,
    )


class Seed:
    """Stores runs, events, steps and checkpoints as the runtime does, then reads them
    back through `RunRepository`."""

    def __init__(self, db: Database, writer: RunWriter) -> None:
        self.db = db
        self.writer = writer
        self.repo = RunRepository(db)
        self._sessions: set[str] = set()

    async def run(self, run_id: str, session_id: str, *, owner_id: str = "me", **kw: Any) -> Run:
        run = make_run(run_id, session_id, **kw)
        new = session_id not in self._sessions
        self._sessions.add(session_id)
        self.writer.create_run(new_run_rows(run, new_session=new, owner_id=owner_id))
        await self.writer.flush()
        return await self.get(run_id)

    async def events(self, run_id: str, count: int, *, first: int = 1) -> list[Event]:
        events = [
            Event(run_id, seq, "content_delta", NOW + timedelta(seconds=seq), {"n": seq})
            for seq in range(first, first + count)
        ]
        for event in events:
            self.writer.append(event)
        await self.writer.flush()
        return events

    async def set(self, run_id: str, **values: Any) -> Run:
        """Put the run in a state directly (as another process would have left it)."""
        async with self.db.write_sessions() as s, s.begin():
            await s.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
        return await self.get(run_id)

    async def get(self, run_id: str) -> Run:
        run = await self.repo.get_run(run_id)
        assert run is not None
        return run

    async def heartbeat_at(self, run_id: str) -> datetime | None:
        async with self.db.sessions() as s:
            row = await s.get(RunRow, run_id)
            assert row is not None
            return row.heartbeat_at


@asynccontextmanager
async def seeded(db: Database) -> AsyncIterator[Seed]:
    writer = RunWriter(db, InProcessBus())
    writer.start()
    try:
        yield Seed(db, writer)
    finally:
        await writer.close()


def event(run: Run, type_: str = "run_paused", *, seq: int | None = None) -> Event:
    """The run's next event (or the one at `seq`)."""
    return Event(run.id, run.last_seq + 1 if seq is None else seq, type_, NOW, {"run_id": run.id})
