"""Runs: reads of runs and their steps, and the quota counts; and `RunRepository`, which
composes the run repositories for the callers that still take one object.

The repositories of runs, one concept each:

- `SessionRepository` (`sessions.py`): sessions, their messages and summaries;
- `RunReadRepository` (here): runs and steps, listing with filters, quota counts;
- `EventRepository` (`events.py`): the event log; `event_row` is its one row builder;
- `LeaseRepository` (`leases.py`): claim, heartbeat, orphans, `fail_orphan`, release,
  `transition` of runs nobody executes, control flags;
- `CheckpointRepository` (`checkpoints.py`): checkpoints; `checkpoint_row` is its one row
  builder;
- `SessionSlotRepository` (`session_slots.py`): one run in progress per session, the
  queued runs, starting one (`take_slot`).

`RunRepository` inherits all six, so `RunManager.run_repo` and the
routers keep working unchanged; callers move to the specific repositories next (issue 13
item 2 makes the runtime own the run reads). The runtime's own writes go through
`RunWriter`, which batches them (group commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select

from agio.domain.runs import ACTIVE_STATUSES, Run
from agio.storage.checkpoints import CheckpointRepository
from agio.storage.components import Page
from agio.storage.database import Database
from agio.storage.events import EventRepository
from agio.storage.leases import LeaseRepository
from agio.storage.run_rows import new_run_rows, to_run, to_step
from agio.storage.session_slots import SessionSlotRepository
from agio.storage.sessions import SessionRepository
from agio.storage.tables import UNFINISHED_STATUSES, RunRow, RunStepRow, unfinished_runs

__all__ = ["RunFilter", "RunReadRepository", "RunRepository", "new_run_rows"]

#: the runs that count against a user's quota
_ACTIVE = tuple(status.value for status in ACTIVE_STATUSES)

# built once: building and keying a statement costs as much CPU as running it
_ACTIVE_RUNS_OF = (
    select(func.count())
    .select_from(RunRow)
    .where(
        unfinished_runs(),
        RunRow.user_id == bindparam("user_id"),
        RunRow.status.in_(_ACTIVE),
    )
)
_TOKENS_OF = select(func.coalesce(func.sum(RunRow.total_tokens), 0)).where(
    RunRow.user_id == bindparam("user_id"), RunRow.created_at >= bindparam("since")
)


@dataclass(frozen=True)
class RunFilter:
    agent: str | None = None  # id or name
    user_id: str | None = None
    session_id: str | None = None
    status: str | None = None
    schedule_id: str | None = None


class RunReadRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_run(self, run_id: str, *, with_steps: bool = False) -> Run | None:
        async with self._db.sessions() as s:
            row = await s.get(RunRow, run_id)
            if row is None:
                return None
            run = to_run(row)
            if with_steps:
                steps = await s.execute(
                    select(RunStepRow)
                    .where(RunStepRow.run_id == run_id)
                    .order_by(RunStepRow.step_num)
                )
                run.steps = [to_step(r) for r in steps.scalars()]
            return run

    async def list_runs(self, filters: RunFilter, *, limit: int, offset: int) -> Page[Run]:
        """Runs matching `filters`, newest first."""
        async with self._db.sessions() as s:
            query = select(RunRow)
            if filters.agent is not None:
                query = query.where(
                    or_(RunRow.agent_id == filters.agent, RunRow.agent_name == filters.agent)
                )
            if filters.user_id is not None:
                query = query.where(RunRow.user_id == filters.user_id)
            if filters.session_id is not None:
                query = query.where(RunRow.session_id == filters.session_id)
            if filters.status is not None:
                query = query.where(RunRow.status == filters.status)
            if filters.schedule_id is not None:
                query = query.where(RunRow.schedule_id == filters.schedule_id)
            total = (
                await s.execute(select(func.count()).select_from(query.subquery()))
            ).scalar_one()
            rows = await s.execute(
                query.order_by(RunRow.created_at.desc(), RunRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page(total=total, items=[to_run(r) for r in rows.scalars()])

    async def child_runs(self, run_id: str) -> list[Run]:
        """The runs `run_id` started by a tool call or a workflow step (SPEC §20; not its
        forks and restores), oldest first."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunRow)
                .where(RunRow.parent_run_id == run_id, RunRow.parent_call_id.is_not(None))
                .order_by(RunRow.created_at, RunRow.id)
            )
            return [to_run(r) for r in rows.scalars()]

    # ------------------------------------------------------------------ quotas

    async def active_runs_of(self, user_id: str) -> int:
        """The user's runs that are pending or running: on every chat (the quota), so it
        reads the partial index of unfinished runs by user, never the user's history.
        A statement built once, on a plain connection: building it and an ORM session
        each cost about as much CPU as the query itself."""
        async with self._db.engine.connect() as connection:
            count = await connection.scalar(_ACTIVE_RUNS_OF, {"user_id": user_id})
            return int(count or 0)

    async def unfinished_by_status(self) -> dict[str, int]:
        """How many runs are pending, running and paused (each status present), from the
        partial index of unfinished runs (Prometheus asks at every scrape)."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunRow.status, func.count()).where(unfinished_runs()).group_by(RunRow.status)
            )
            counts = dict.fromkeys(UNFINISHED_STATUSES, 0)
            counts.update({status: int(n) for status, n in rows})
            return counts

    async def tokens_of(self, user_id: str, since: datetime) -> int:
        """Tokens used by the user's runs created since `since`."""
        async with self._db.engine.connect() as connection:
            total = await connection.scalar(_TOKENS_OF, {"user_id": user_id, "since": since})
            return int(total or 0)


class RunRepository(
    SessionRepository,
    RunReadRepository,
    EventRepository,
    LeaseRepository,
    CheckpointRepository,
    SessionSlotRepository,
):
    """All the run repositories in one object, for the callers that still take one
    (`RunManager.run_repo`, the routers); they move to the specific
    repositories next."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        """The database these runs are stored in (for repositories of what belongs to
        runs, like their approvals)."""
        return self._db
