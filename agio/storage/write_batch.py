"""The run writer's batches: what one transaction stores, built from the operations that
runs hand over, grouped by run when one run's writes must be told from the others', and
how a failed write is told apart (transient, or refused for its data)."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from agio.domain.events import Event
from agio.domain.runs import Step

#: one operation handed to the writer: (kind, payload)
Op = tuple[str, Any]

TERMINAL = ("completed", "failed", "cancelled")
REASON_CHARS = 200


@dataclass
class Batch:
    """What one transaction of the writer stores."""

    new_sessions: list[dict[str, Any]]
    new_runs: list[dict[str, Any]]
    touched_sessions: dict[str, Any]
    events: list[Event]
    steps: list[dict[str, Any]]
    run_updates: dict[str, dict[str, Any]]
    session_messages: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    supersede: list[tuple[str, int]]


_STEP_FIELDS = tuple(f.name for f in fields(Step))


def shallow(step: Step) -> dict[str, Any]:
    return {name: getattr(step, name) for name in _STEP_FIELDS}


def collect(ops: list[Op], *, copy_steps: bool) -> Batch:
    """The batch that stores `ops`, in order. `copy_steps`: steps as deep copies (for a
    path that binds values after awaiting)."""
    b = Batch([], [], {}, [], [], {}, [], [], [])
    for kind, payload in ops:
        if kind == "event":
            b.events.append(payload)
            b.run_updates.setdefault(payload.run_id, {})["last_seq"] = payload.seq
        elif kind == "step":
            # steps are never changed once handed over; a path that binds values only
            # after awaits still gets a deep copy
            b.steps.append(asdict(payload) if copy_steps else shallow(payload))
        elif kind == "run":
            run_id, values = payload
            b.run_updates.setdefault(run_id, {}).update(values)
        elif kind == "new_run":
            if payload["session"] is not None:
                b.new_sessions.append(payload["session"])
            else:
                b.touched_sessions[payload["run"]["session_id"]] = payload["run"]["created_at"]
            b.new_runs.append(payload["run"])
        elif kind == "checkpoint":
            b.checkpoints.append(payload)
        elif kind == "supersede":
            b.supersede.append(payload)
        elif kind == "session_messages":
            b.session_messages.extend(payload)
    return b


def run_of(op: Op) -> str:
    """The run an operation writes for."""
    kind, payload = op
    if kind == "event" or kind == "step":
        return str(payload.run_id)
    if kind == "run" or kind == "supersede":
        return str(payload[0])
    if kind == "new_run":
        return str(payload["run"]["id"])
    if kind == "checkpoint":
        return str(payload["run_id"])
    return str(payload[0]["run_id"]) if payload else ""  # session messages of one run


def by_run(ops: list[Op]) -> dict[str, list[Op]]:
    """`ops` grouped by run, each group in order."""
    groups: dict[str, list[Op]] = {}
    for op in ops:
        groups.setdefault(run_of(op), []).append(op)
    return groups


def transient(exc: BaseException) -> bool:
    """A failure that the same writes may not meet again: the connection, a lock, a
    timeout. Anything else (a value the database refuses, a constraint) is the data's."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    if isinstance(exc, sqlite3.OperationalError | sqlite3.InterfaceError):
        return True  # "database is locked", a closed connection
    # a value the database refuses, text that is not Unicode, a constraint; anything
    # else (OSError, TimeoutError, a dropped connection) may pass on another try
    return not isinstance(exc, sqlite3.Error | UnicodeError | ValueError | TypeError)


def reason(exc: BaseException) -> str:
    """What went wrong, without the values: the error's type and the first line of the
    driver's message."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    if len(first) > REASON_CHARS:
        first = first[:REASON_CHARS] + "…"
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__
