"""The run writer's batches: what one transaction stores, built from the operations that
runs hand over, grouped by run when one run's writes must be told from the others', and
how a failed write is told apart (transient, or refused for its data)."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from agio.domain.events import Event
from agio.domain.runs import TERMINAL_STATUSES, Step

#: one operation handed to the writer: (kind, payload)
Op = tuple[str, Any]

TERMINAL = tuple(status.value for status in TERMINAL_STATUSES)


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
    #: the model-call log's rows (`tables_model_calls`), built by the runtime
    model_calls: list[dict[str, Any]] = field(default_factory=list)


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
            update = b.run_updates.setdefault(run_id, {})
            update.update(values)
            if values.get("status") in TERMINAL:
                # a run that ends gives its session back in the same statement, whichever
                # code path ends it (SPEC §12: `agio.storage.session_slots`)
                update["session_slot"] = None
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
        elif kind == "model_call":
            b.model_calls.append(payload)
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
    if kind == "checkpoint" or kind == "model_call":
        return str(payload["run_id"])
    return str(payload[0]["run_id"]) if payload else ""  # session messages of one run


def by_run(ops: list[Op]) -> dict[str, list[Op]]:
    """`ops` grouped by run, each group in order."""
    groups: dict[str, list[Op]] = {}
    for op in ops:
        groups.setdefault(run_of(op), []).append(op)
    return groups


#: SQLSTATE classes of a statement refused for its data: 22 data exception (a NUL, an
#: invalid escape, a value out of range), 23 integrity constraint violation
_DATA_SQLSTATE_CLASSES = ("22", "23")
_DATA_ERRORS = (UnicodeError, ValueError, TypeError)


def _cause(exc: BaseException) -> BaseException:
    """The driver's own error inside SQLAlchemy's wrappers."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


def _sqlstate(exc: BaseException) -> str | None:
    code = getattr(_cause(exc), "sqlstate", None) or getattr(_cause(exc), "pgcode", None)
    return code if isinstance(code, str) else None


def refused(exc: BaseException) -> bool:
    """The database (or the driver, binding values) refuses these writes for what they
    hold: the same writes would fail the same way however often they were tried. Any
    other failure (a lost connection, a lock, a deadlock, a timeout, a full disk, a
    server shutting down) may pass on another try."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return False
        code = _sqlstate(exc)
        if code is not None:
            return code[:2] in _DATA_SQLSTATE_CLASSES
        return isinstance(exc, IntegrityError | DataError)
    if isinstance(exc, StatementError):  # binding a value failed before the driver ran
        return isinstance(_cause(exc), _DATA_ERRORS)
    if isinstance(exc, sqlite3.Error):
        return not isinstance(exc, sqlite3.OperationalError)  # "database is locked", …
    return isinstance(exc, _DATA_ERRORS)


def transient(exc: BaseException) -> bool:
    return not refused(exc)


def reason(exc: BaseException) -> str:
    """What the database refused, without any of the values (driver messages quote
    them): the kind of error and, from PostgreSQL, its SQLSTATE."""
    cause = _cause(exc)
    if isinstance(cause, StatementError):
        cause = _cause(cause)
    code = _sqlstate(exc)
    if isinstance(cause, UnicodeError):
        what = "text that is not valid Unicode (an unpaired surrogate)"
    elif code in ("22021", "22P05"):
        what = "text PostgreSQL cannot store (a NUL character)"
    elif isinstance(cause, TypeError | ValueError):
        what = "a value that cannot be stored as JSON or in its column"
    elif code is not None and code.startswith("23"):
        what = "a constraint of the database"
    else:
        what = "a value the database refused"
    name = type(cause).__name__
    return f"{what}; {name}, SQLSTATE {code}" if code else f"{what}; {name}"
