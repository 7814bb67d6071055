"""Run repository: sessions, runs, steps and the event log (reads and request-time writes).

The runtime's own writes go through `RunWriter`, which batches them (group commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from agio.domain.events import Event
from agio.domain.runs import Checkpoint, Run, RunStatus, Session, Step
from agio.domain.time import utcnow
from agio.storage.components import Page
from agio.storage.database import Database
from agio.storage.tables import (
    UNFINISHED_STATUSES,
    CheckpointRow,
    RunEventRow,
    RunRow,
    RunStepRow,
    SessionMessageRow,
    SessionRow,
    unfinished_runs,
)

#: the runs that count against a user's quota and that a process executes
_ACTIVE = (RunStatus.PENDING.value, RunStatus.RUNNING.value)


@dataclass(frozen=True)
class RunFilter:
    agent: str | None = None  # id or name
    user_id: str | None = None
    session_id: str | None = None
    status: str | None = None


def _run(row: RunRow) -> Run:
    return Run(
        id=row.id,
        agent_id=row.agent_id,
        agent_name=row.agent_name,
        session_id=row.session_id,
        user_id=row.user_id,
        status=RunStatus(row.status),
        input_query=row.input_query,
        response_content=row.response_content,
        error=row.error,
        metrics=row.metrics,
        agent_config=row.agent_config,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        last_seq=row.last_seq,
        parent_run_id=row.parent_run_id,
        forked_from_checkpoint_id=row.forked_from_checkpoint_id,
        recovery_count=row.recovery_count,
        control=row.control,
        owner_id=row.owner_id,
    )


def _checkpoint(row: CheckpointRow) -> Checkpoint:
    return Checkpoint(
        id=row.id,
        run_id=row.run_id,
        step_num=row.step_num,
        kind=row.kind,
        description=row.description,
        tags=row.tags,
        state=row.state,
        agent_config=row.agent_config,
        seq=row.seq,
        run_status=row.run_status,
        message_count=row.message_count,
        total_tokens=row.total_tokens,
        created_at=row.created_at,
    )


def _step(row: RunStepRow) -> Step:
    return Step(
        run_id=row.run_id,
        step_num=row.step_num,
        type=row.type,
        messages=row.messages,
        model_response=row.model_response,
        tool_calls=row.tool_calls,
        metrics=row.metrics,
        started_at=row.started_at,
        ended_at=row.ended_at,
        superseded=row.superseded,
    )


def _event(row: RunEventRow) -> Event:
    return Event(
        run_id=row.run_id, seq=row.seq, type=row.type, timestamp=row.created_at, data=row.data
    )


def new_run_rows(run: Run, *, new_session: bool, owner_id: str) -> dict[str, Any]:
    """The rows that create a pending run (and its session when new): for `RunWriter`."""
    return {
        "session": {
            "id": run.session_id,
            "agent_id": run.agent_id,
            "user_id": run.user_id,
            "created_at": run.created_at,
            "updated_at": run.created_at,
        }
        if new_session
        else None,
        "run": {
            "id": run.id,
            "agent_id": run.agent_id,
            "agent_name": run.agent_name,
            "session_id": run.session_id,
            "user_id": run.user_id,
            "status": run.status.value,
            "input_query": run.input_query,
            "response_content": None,
            "error": None,
            "metrics": run.metrics,
            "agent_config": run.agent_config,
            "model_name": run.agent_config.get("model", {}).get("name"),
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
            "tool_calls": 0,
            "duration": None,
            "last_seq": run.last_seq,
            "owner_id": owner_id,
            "heartbeat_at": run.created_at,
            "created_at": run.created_at,
            "started_at": None,
            "ended_at": None,
            "parent_run_id": run.parent_run_id,
            "forked_from_checkpoint_id": run.forked_from_checkpoint_id,
            "recovery_count": 0,
            "control": None,
        },
    }


class RunRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ sessions

    async def get_session(self, session_id: str) -> Session | None:
        async with self._db.sessions() as s:
            row = await s.get(SessionRow, session_id)
            if row is None:
                return None
            return Session(
                id=row.id,
                agent_id=row.agent_id,
                user_id=row.user_id,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )

    async def list_sessions(
        self, *, user_id: str | None, agent_id: str | None, limit: int, offset: int
    ) -> Page[tuple[Session, int]]:
        """Sessions (of `user_id` / `agent_id` when given), most recently active first, each
        with its number of runs."""
        where = []
        if user_id is not None:
            where.append(SessionRow.user_id == user_id)
        if agent_id is not None:
            where.append(SessionRow.agent_id == agent_id)
        runs = (
            select(func.count())
            .select_from(RunRow)
            .where(RunRow.session_id == SessionRow.id)
            .scalar_subquery()
        )
        async with self._db.sessions() as s:
            total = await s.scalar(select(func.count()).select_from(SessionRow).where(*where))
            rows = await s.execute(
                select(SessionRow, runs)
                .where(*where)
                .order_by(SessionRow.updated_at.desc(), SessionRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            items = [
                (
                    Session(
                        id=r.id,
                        agent_id=r.agent_id,
                        user_id=r.user_id,
                        created_at=r.created_at,
                        updated_at=r.updated_at,
                    ),
                    int(n),
                )
                for r, n in rows
            ]
            return Page(total=int(total or 0), items=items)

    async def session_run_ids(self, session_id: str) -> list[tuple[str, str]]:
        """(run id, status) of the session's runs, oldest first."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunRow.id, RunRow.status)
                .where(RunRow.session_id == session_id)
                .order_by(RunRow.created_at, RunRow.id)
            )
            return [(i, st) for i, st in rows]

    async def delete_session(self, session_id: str) -> None:
        """The session, its messages and its runs (their events, steps and checkpoints
        go with them)."""
        async with self._db.write_sessions() as s, s.begin():
            await s.execute(delete(RunRow).where(RunRow.session_id == session_id))
            await s.execute(delete(SessionRow).where(SessionRow.id == session_id))

    async def session_summary(self, session_id: str) -> tuple[str | None, int]:
        async with self._db.sessions() as s:
            row = (
                await s.execute(
                    select(SessionRow.summary, SessionRow.summary_upto).where(
                        SessionRow.id == session_id
                    )
                )
            ).first()
            return (row[0], int(row[1])) if row else (None, 0)

    async def save_summary(self, session_id: str, summary: str, upto: int) -> None:
        async with self._db.sessions() as s, s.begin():
            await s.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(summary=summary, summary_upto=upto)
            )

    async def session_messages(self, session_id: str) -> list[dict[str, Any]]:
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(SessionMessageRow.message)
                .where(SessionMessageRow.session_id == session_id)
                .order_by(SessionMessageRow.id)
            )
            return list(rows.scalars())

    # ------------------------------------------------------------------ runs

    async def get_run(self, run_id: str, *, with_steps: bool = False) -> Run | None:
        async with self._db.sessions() as s:
            row = await s.get(RunRow, run_id)
            if row is None:
                return None
            run = _run(row)
            if with_steps:
                steps = await s.execute(
                    select(RunStepRow)
                    .where(RunStepRow.run_id == run_id)
                    .order_by(RunStepRow.step_num)
                )
                run.steps = [_step(r) for r in steps.scalars()]
            return run

    async def list_runs(self, filters: RunFilter, *, limit: int, offset: int) -> Page[Run]:
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
            total = (
                await s.execute(select(func.count()).select_from(query.subquery()))
            ).scalar_one()
            rows = await s.execute(
                query.order_by(RunRow.created_at.desc(), RunRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page(total=total, items=[_run(r) for r in rows.scalars()])

    # ------------------------------------------------------------------ quotas

    async def active_runs_of(self, user_id: str) -> int:
        """The user's runs that are pending or running: on every chat (the quota), so it
        reads the partial index of unfinished runs by user, never the user's history."""
        async with self._db.sessions() as s:
            count = await s.scalar(
                select(func.count())
                .select_from(RunRow)
                .where(
                    unfinished_runs(),
                    RunRow.user_id == user_id,
                    RunRow.status.in_(_ACTIVE),
                )
            )
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
        async with self._db.sessions() as s:
            total = await s.scalar(
                select(func.coalesce(func.sum(RunRow.total_tokens), 0)).where(
                    RunRow.user_id == user_id, RunRow.created_at >= since
                )
            )
            return int(total or 0)

    # ------------------------------------------------------------------ events

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
            return [_event(r) for r in rows.scalars()]

    async def events_after(self, run_id: str, after_seq: int, limit: int = 1000) -> list[Event]:
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunEventRow)
                .where(RunEventRow.run_id == run_id, RunEventRow.seq > after_seq)
                .order_by(RunEventRow.seq)
                .limit(limit)
            )
            return [_event(r) for r in rows.scalars()]

    # ------------------------------------------------------------------ ownership

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

    async def orphaned_runs(self, stale_before: datetime) -> list[Run]:
        """Pending and running runs whose owner stopped heartbeating or handed them back
        (every heartbeat period: from the partial index of unfinished runs)."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunRow).where(
                    unfinished_runs(),
                    RunRow.status.in_(_ACTIVE),
                    or_(RunRow.heartbeat_at < stale_before, RunRow.heartbeat_at.is_(None)),
                )
            )
            return [_run(r) for r in rows.scalars()]

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
                    RunRow.status.in_([RunStatus.PENDING.value, RunStatus.RUNNING.value]),
                    or_(RunRow.heartbeat_at < stale_before, RunRow.heartbeat_at.is_(None)),
                )
                .values(
                    status=RunStatus.FAILED.value,
                    error=error,
                    ended_at=event.timestamp,
                    last_seq=event.seq,
                    owner_id=None,
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            await s.execute(
                insert(RunEventRow),
                [
                    {
                        "run_id": event.run_id,
                        "seq": event.seq,
                        "type": event.type,
                        "data": event.data,
                        "created_at": event.timestamp,
                    }
                ],
            )
            return True

    # ------------------------------------------------------------------ control

    async def max_seq(self, run_id: str) -> int:
        async with self._db.sessions() as s:
            value = (
                await s.execute(
                    select(func.max(RunEventRow.seq)).where(RunEventRow.run_id == run_id)
                )
            ).scalar_one_or_none()
            return int(value or 0)

    async def set_control(self, run_id: str, control: str) -> None:
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

    async def transition(self, run: Run, target: RunStatus, event: Event, **values: Any) -> bool:
        """Change the status of a run nobody executes (paused, or pending/orphaned), with
        its event, if it is still as read (`status` and `last_seq`)."""
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
            await s.execute(
                insert(RunEventRow),
                [
                    {
                        "run_id": event.run_id,
                        "seq": event.seq,
                        "type": event.type,
                        "data": event.data,
                        "created_at": event.timestamp,
                    }
                ],
            )
            return True

    async def claim(
        self, run: Run, owner_id: str, *, recovery: bool, stale_before: datetime | None = None
    ) -> bool:
        """Take ownership of a run that nobody executes, if it is still as read; a paused
        run claimed to continue is `running` from this moment."""
        values: dict[str, Any] = {"owner_id": owner_id, "heartbeat_at": utcnow()}
        if run.status is RunStatus.PAUSED:
            values["status"] = RunStatus.RUNNING.value
        if recovery:
            values["recovery_count"] = run.recovery_count + 1
        async with self._db.write_sessions() as s, s.begin():
            query = update(RunRow).where(
                RunRow.id == run.id,
                RunRow.status == run.status.value,
                RunRow.recovery_count == run.recovery_count,
            )
            if recovery:
                query = query.where(
                    or_(
                        RunRow.heartbeat_at.is_(None),
                        RunRow.heartbeat_at < (stale_before or utcnow()),
                    )
                )
            else:
                query = query.where(RunRow.owner_id.is_(None))
            result = await s.execute(query.values(**values))
            return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]

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

    # ------------------------------------------------------------------ checkpoints

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        async with self._db.sessions() as s:
            row = await s.get(CheckpointRow, checkpoint_id)
            return None if row is None else _checkpoint(row)

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(CheckpointRow)
                .where(CheckpointRow.run_id == run_id)
                .order_by(CheckpointRow.seq, CheckpointRow.created_at)
            )
            return [_checkpoint(r) for r in rows.scalars()]

    async def latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        async with self._db.sessions() as s:
            row = (
                (
                    await s.execute(
                        select(CheckpointRow)
                        .where(CheckpointRow.run_id == run_id)
                        .order_by(CheckpointRow.seq.desc(), CheckpointRow.created_at.desc())
                        .limit(1)
                    )
                )
                .scalars()
                .first()
            )
            return None if row is None else _checkpoint(row)

    async def add_checkpoint(self, row: dict[str, Any], run: Run, event: Event) -> bool:
        """Store a checkpoint of a run nobody executes, with its event, if the run is
        still as read."""
        async with self._db.write_sessions() as s, s.begin():
            result = await s.execute(
                update(RunRow)
                .where(RunRow.id == run.id, RunRow.last_seq == run.last_seq)
                .values(last_seq=event.seq)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            await s.execute(insert(CheckpointRow), [row])
            await s.execute(
                insert(RunEventRow),
                [
                    {
                        "run_id": event.run_id,
                        "seq": event.seq,
                        "type": event.type,
                        "data": event.data,
                        "created_at": event.timestamp,
                    }
                ],
            )
            return True
