"""Checkpoints of runs: the one checkpoint row, its reads, and storing one for a run
nobody executes (a run being executed hands its checkpoints to `RunWriter`)."""

from __future__ import annotations

from collections.abc import Sized
from datetime import datetime
from typing import Any, Protocol, TypedDict

from sqlalchemy import insert, select, update

from agio.domain.events import Event
from agio.domain.ids import new_id
from agio.domain.runs import Checkpoint, Run, RunStatus
from agio.domain.time import utcnow
from agio.storage.database import Database
from agio.storage.events import event_row
from agio.storage.tables import CheckpointRow, RunEventRow, RunRow


class CheckpointState(Protocol):
    """What a checkpoint is taken of (the runtime's `RunState`)."""

    @property
    def step_num(self) -> int: ...

    @property
    def messages(self) -> Sized: ...

    @property
    def total_tokens(self) -> int: ...

    def to_json(self) -> dict[str, Any]: ...


class NewCheckpoint(TypedDict):
    """A `checkpoints` row to store, as `checkpoint_row` builds it."""

    id: str
    run_id: str
    step_num: int
    kind: str
    description: str
    tags: list[str]
    state: dict[str, Any]
    agent_config: dict[str, Any]
    seq: int
    run_status: str
    message_count: int
    total_tokens: int
    created_at: datetime


def checkpoint_row(
    run_id: str,
    state: CheckpointState,
    agent_config: dict[str, Any],
    *,
    kind: str,
    seq: int,
    status: RunStatus,
    description: str = "",
    tags: list[str] | None = None,
) -> NewCheckpoint:
    """The `checkpoints` row of `state` (a new id, in `row["id"]`), taken at the run's
    event `seq` while the run is `status`; `agent_config` is the snapshot as JSON."""
    return {
        "id": new_id("ckpt"),
        "run_id": run_id,
        "step_num": state.step_num,
        "kind": kind,
        "description": description,
        "tags": tags or [],
        "state": state.to_json(),
        "agent_config": agent_config,
        "seq": seq,
        "run_status": status.value,
        "message_count": len(state.messages),
        "total_tokens": state.total_tokens,
        "created_at": utcnow(),
    }


def to_checkpoint(row: CheckpointRow) -> Checkpoint:
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


class CheckpointRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        async with self._db.sessions() as s:
            row = await s.get(CheckpointRow, checkpoint_id)
            return None if row is None else to_checkpoint(row)

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        """The run's checkpoints, oldest first (by the event they were taken at)."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(CheckpointRow)
                .where(CheckpointRow.run_id == run_id)
                .order_by(CheckpointRow.seq, CheckpointRow.created_at)
            )
            return [to_checkpoint(r) for r in rows.scalars()]

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
            return None if row is None else to_checkpoint(row)

    async def add_checkpoint(self, row: NewCheckpoint, run: Run, event: Event) -> bool:
        """Store a checkpoint of a run nobody executes, with its event, if the run is
        still as read (`last_seq`)."""
        async with self._db.write_sessions() as s, s.begin():
            result = await s.execute(
                update(RunRow)
                .where(RunRow.id == run.id, RunRow.last_seq == run.last_seq)
                .values(last_seq=event.seq)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            await s.execute(insert(CheckpointRow), [row])
            await s.execute(insert(RunEventRow), [event_row(event)])
            return True
