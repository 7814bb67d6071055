"""The run writer's batches through SQLAlchemy Core: PostgreSQL, and SQLite when its fast
path (`agio.storage.sqlite_batch`) is off.

Every statement is built once, on the tables rather than the ORM classes (a statement on
an ORM class takes the ORM's compile and parameter path at every execution), with bound
parameters for what changes, so that SQLAlchemy finds it compiled in its cache at once;
and each kind of write is one execution with all of a batch's rows (`executemany`): the
updates of several runs with the same columns go together, as do the touched sessions and
the superseded steps. What is stored, and in which transaction, is what one statement per
row stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, Update, and_, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import DeclarativeBase

from agio.storage.events import event_row
from agio.storage.tables import (
    CheckpointRow,
    RunEventRow,
    RunRow,
    RunStepRow,
    SessionMessageRow,
    SessionRow,
)
from agio.storage.tables_model_calls import ModelCallRow
from agio.storage.webhook_outbox import store_outbox
from agio.storage.write_batch import TERMINAL, Batch


def _table(model: type[DeclarativeBase]) -> Table:
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


_SESSIONS = _table(SessionRow)
_RUNS = _table(RunRow)
_EVENTS = _table(RunEventRow)
_STEPS = _table(RunStepRow)
_CHECKPOINTS = _table(CheckpointRow)
_MESSAGES = _table(SessionMessageRow)
_MODEL_CALLS = _table(ModelCallRow)

_INSERT_SESSIONS = insert(_SESSIONS)
_INSERT_RUNS = insert(_RUNS)
_INSERT_EVENTS = insert(_EVENTS)
_INSERT_STEPS = insert(_STEPS)
_INSERT_CHECKPOINTS = insert(_CHECKPOINTS)
_INSERT_MESSAGES = insert(_MESSAGES)
_INSERT_MODEL_CALLS = insert(_MODEL_CALLS)
_TOUCH_SESSION = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("_session_id"))
    .values(updated_at=bindparam("_updated_at"))
)
_SUPERSEDE = (
    update(_STEPS)
    .where(_STEPS.c.run_id == bindparam("_run_id"), _STEPS.c.step_num > bindparam("_after"))
    .values(superseded=True)
)
# a terminal state is final, whoever writes late (`!=` for each: an `IN` list is expanded
# per execution, which `executemany` does not take)
_NOT_ENDED = and_(*(_RUNS.c.status != status for status in TERMINAL))
_LOCK_RUNS = (
    select(_RUNS.c.id, _RUNS.c.owner_id, _RUNS.c.status)
    .where(_RUNS.c.id.in_(bindparam("_run_ids", expanding=True)))
    .order_by(_RUNS.c.id)  # one lock order for every writer: no deadlocks
    .with_for_update()
)


@lru_cache(maxsize=1024)  # the runtime updates a handful of sets of columns
def _update_runs(keys: tuple[str, ...]) -> Update:
    """The UPDATE of a run's `keys` (values bound as `v_<key>`), unless it has ended."""
    return (
        update(_RUNS)
        .where(_RUNS.c.id == bindparam("_run_id"), _NOT_ENDED)
        .values({key: bindparam("v_" + key) for key in keys})
    )


async def lock_runs(
    s: AsyncConnection, run_ids: Sequence[str]
) -> list[tuple[str, str | None, str]]:
    """(id, owner_id, status) of the runs `run_ids`, locked until the transaction ends
    (PostgreSQL: `FOR UPDATE`), in id order."""
    result = await s.execute(_LOCK_RUNS, {"_run_ids": sorted(run_ids)})
    return [(row.id, row.owner_id, row.status) for row in result]


async def store(s: AsyncConnection, b: Batch) -> None:
    """Execute the writes of `b` in the transaction of `s`, in the order the SQLite fast
    path executes them."""
    if b.new_sessions:
        await s.execute(_INSERT_SESSIONS, b.new_sessions)
    if b.new_runs:
        await s.execute(_INSERT_RUNS, b.new_runs)
    if b.touched_sessions:
        await s.execute(
            _TOUCH_SESSION,
            [{"_session_id": s_id, "_updated_at": w} for s_id, w in b.touched_sessions.items()],
        )
    if b.events:
        await s.execute(_INSERT_EVENTS, [event_row(e) for e in b.events])
    if b.supersede:
        await s.execute(
            _SUPERSEDE, [{"_run_id": run_id, "_after": after} for run_id, after in b.supersede]
        )
    if b.steps:
        await s.execute(_INSERT_STEPS, b.steps)
    if b.checkpoints:
        await s.execute(_INSERT_CHECKPOINTS, b.checkpoints)
    if b.session_messages:
        await s.execute(_INSERT_MESSAGES, b.session_messages)
    if b.model_calls:
        await s.execute(_INSERT_MODEL_CALLS, b.model_calls)
    if b.run_updates:
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for run_id, values in b.run_updates.items():
            params = {"_run_id": run_id}
            params.update({"v_" + key: value for key, value in values.items()})
            by_columns.setdefault(tuple(values), []).append(params)
        for keys, rows in by_columns.items():
            await s.execute(_update_runs(keys), rows)
    # --- webhooks: the outbox rows of the batch's webhook events, last (a run's own
    # `webhook_url` may be set by an update of this very batch)
    await store_outbox(s, b.events)
