"""The queries of the hot and periodic paths cost O(unfinished runs), not O(history).

Each repository call below is made for real over a database holding thousands of ended
runs and a few unfinished ones; every statement it sends is captured and explained again
with the same parameters, and the plan must reach each table through the index named
here, never by a full scan (nor by another index that covers history, such as all of a
user's runs). SQLite: `EXPLAIN QUERY PLAN`, without ANALYZE (as a server's file is).
PostgreSQL: the statistics taken by ANALYZE (autovacuum's job on a server) and the
*generic* plan of the prepared statement (`plan_cache_mode = force_generic_plan`),
which asyncpg's cached statements end up with: it knows no parameter's value, so a partial
index is usable only if the SQL itself implies its predicate.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, event, insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex

from agio.domain import events as ev
from agio.domain.events import Event
from agio.domain.runs import Run, RunStatus
from agio.domain.time import utcnow
from agio.storage.database import Database
from agio.storage.runs import RunRepository
from agio.storage.tables import (
    UNFINISHED_STATUSES,
    ApiKeyRow,
    Base,
    RunEventRow,
    RunRow,
    UserRow,
)
from agio.storage.users import UserRepository

HISTORY = 4000  # ended runs, over three users
OWNER = "proc_plan"
PK = "primary key"

# ---------------------------------------------------------------------- data


def _run_row(i: int, status: str, user: str, when: datetime, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"run_{i:06d}",
        "agent_id": "agt_1",
        "agent_name": "assistant",
        "session_id": f"ses_{i // 5:06d}",
        "user_id": user,
        "status": status,
        "input_query": "hello",
        "response_content": "hi" if status == "completed" else None,
        "error": None,
        "metrics": {},
        "agent_config": {},
        "model_name": "demo",
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "tool_calls": 0,
        "duration": 0.1,
        "last_seq": 3,
        "owner_id": None,
        "heartbeat_at": when,
        "control": None,
        "parent_run_id": None,
        "forked_from_checkpoint_id": None,
        "recovery_count": 0,
        "created_at": when,
        "started_at": when,
        "ended_at": when,
    }
    row.update(values)
    return row


async def _seed(db: Database) -> None:
    now = utcnow()
    ended = ("completed", "completed", "completed", "failed", "cancelled")
    users = ("alice", "bob", "carol")
    runs = [
        _run_row(i, ended[i % 5], users[i % 3], now - timedelta(minutes=HISTORY - i))
        for i in range(HISTORY)
    ]
    fresh = {"heartbeat_at": now, "ended_at": None}
    runs += [
        _run_row(HISTORY, "running", "alice", now, owner_id=OWNER, control="pause", **fresh),
        _run_row(HISTORY + 1, "running", "alice", now, owner_id=OWNER, **fresh),
        _run_row(HISTORY + 2, "pending", "bob", now - timedelta(hours=1), ended_at=None),
        _run_row(HISTORY + 3, "paused", "alice", now, ended_at=None),
    ]
    users_rows = [
        {
            "id": f"usr_{i}",
            "username": f"user{i}",
            "password_hash": None,
            "role": "user",
            "disabled": False,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(2000)
    ]
    keys = [
        {
            "id": f"key_{i}",
            "user_id": f"usr_{i}",
            "name": "k",
            "prefix": f"agio_{i:08d}",
            "key_hash": "0" * 64,
            "created_at": now,
        }
        for i in range(2000)
    ]
    events = [
        {"run_id": f"run_{i:06d}", "seq": seq, "type": "x", "data": {}, "created_at": now}
        for i in range(0, HISTORY + 4, 2)
        for seq in (1, 2, 3)
    ]
    async with db.engine.begin() as conn:
        await conn.execute(insert(RunRow), runs)
        await conn.execute(insert(UserRow), users_rows)
        await conn.execute(insert(ApiKeyRow), keys)
        await conn.execute(insert(RunEventRow), events)
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")


# ---------------------------------------------------------------------- plans


@contextmanager
def _captured(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) sent while inside, on either engine."""
    statements: list[tuple[str, Any]] = []

    def capture(
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE"):
            statements.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)


def _pg_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


async def _plan(db: Database, statement: str, parameters: Any) -> list[str]:
    async with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plan = [str(row[3]) for row in rows]
            for auto in {m for line in plan for m in re.findall(r"sqlite_autoindex_\w+", line)}:
                columns = [r[2] for r in await conn.exec_driver_sql(f"PRAGMA index_info({auto})")]
                plan = [line.replace(auto, _constraint(auto, columns)) for line in plan]
            return plan
        await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.exec_driver_sql(f"PREPARE agio_plan AS {statement}")
        try:
            arguments = ", ".join(_pg_literal(p) for p in parameters)
            call = f"agio_plan({arguments})" if parameters else "agio_plan"
            rows = await conn.exec_driver_sql(f"EXPLAIN EXECUTE {call}")
            return [str(row[0]) for row in rows]
        finally:
            await conn.exec_driver_sql("DEALLOCATE agio_plan")


def _constraint(autoindex: str, columns: list[str]) -> str:
    """The name of the constraint behind a SQLite `sqlite_autoindex_<table>_<n>`, as the
    table definitions (and PostgreSQL) name it."""
    table = next(
        t
        for t in Base.metadata.tables.values()
        if autoindex.startswith(f"sqlite_autoindex_{t.name}_")
    )
    for constraint in table.constraints:
        if [c.name for c in getattr(constraint, "columns", [])] == columns and constraint.name:
            return str(constraint.name)
    raise AssertionError(f"{autoindex} ({columns}) is no constraint of {table.name}")


def _accesses(dialect: str, plan: list[str]) -> dict[str, set[str]]:
    """{table: how the plan reads it}: index names, PK for the primary key, or "full scan"."""
    owner = {
        str(index.name): t.name
        for t in Base.metadata.tables.values()
        for index in [*t.indexes, *t.constraints]
        if index.name
    }
    found: dict[str, set[str]] = {}

    def add(table: str, index: str) -> None:
        found.setdefault(table, set()).add(PK if index == f"pk_{table}" else index)

    for line in plan:
        if dialect == "sqlite":
            match = re.search(r"\b(?:SCAN|SEARCH) (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", line)
            if match:
                if match.group(2):
                    add(match.group(1), match.group(2))
                else:
                    add(match.group(1), PK if "INTEGER PRIMARY KEY" in line else "full scan")
            continue
        if seq := re.search(r"Seq Scan on (\w+)", line):
            add(seq.group(1), "full scan")
        if used := re.search(r"Index (?:Only )?Scan (?:Backward )?using (\w+) on (\w+)", line):
            add(used.group(2), used.group(1))
        if bitmap := re.search(r"Bitmap Index Scan on (\w+)", line):
            add(owner.get(bitmap.group(1)) or "?", bitmap.group(1))
    return found


# ---------------------------------------------------------------------- the hot queries


@dataclass(frozen=True)
class Hot:
    label: str
    call: Callable[[RunRepository, UserRepository], Awaitable[Any]]
    #: {table: the index it is read through (or the indexes any of which will do)}, for
    #: every table the statements read
    expected: dict[str, str | frozenset[str]]


#: the partial indexes over unfinished runs: each is as small as the runs in progress
UNFINISHED_INDEXES = frozenset(
    {
        "ix_runs_unfinished_status_heartbeat_at",
        "ix_runs_unfinished_owner_id",
        "ix_runs_unfinished_user_id_status",
    }
)


async def _orphan(repo: RunRepository) -> Run:
    run = await repo.get_run(f"run_{HISTORY + 2:06d}")
    assert run is not None
    return run


async def _fail_orphan(repo: RunRepository, users: UserRepository) -> bool:
    run = await _orphan(repo)
    failed = Event(run.id, run.last_seq + 1, ev.RUN_FAILED, utcnow(), {"run_id": run.id})
    return await repo.fail_orphan(run, failed, {"type": "RunInterrupted"}, utcnow())


async def _claim(repo: RunRepository, users: UserRepository) -> bool:
    run = await _orphan(repo)
    return await repo.claim(run, OWNER, recovery=True, stale_before=utcnow())


def _stale() -> datetime:
    return utcnow() - timedelta(seconds=30)


def _today() -> datetime:
    return utcnow().replace(hour=0, minute=0, second=0, microsecond=0)


RUN = f"run_{HISTORY:06d}"
HOT = [
    Hot(
        "quota: active runs of a user",
        lambda r, u: r.active_runs_of("alice"),
        {"runs": "ix_runs_unfinished_user_id_status"},
    ),
    Hot(
        "quota: tokens used today",
        lambda r, u: r.tokens_of("alice", _today()),
        {"runs": "ix_runs_user_id_created_at"},
    ),
    Hot(
        "control polling",
        lambda r, u: r.controls_for(OWNER),
        {"runs": "ix_runs_unfinished_owner_id"},
    ),
    Hot(
        "heartbeat", lambda r, u: r.heartbeat(OWNER, [RUN, f"run_{HISTORY + 1:06d}"]), {"runs": PK}
    ),
    Hot(
        "orphan search",
        lambda r, u: r.orphaned_runs(_stale()),
        {"runs": UNFINISHED_INDEXES},  # PostgreSQL picks one of them by its statistics
    ),
    Hot("orphan failed", _fail_orphan, {"runs": PK}),
    Hot("orphan claimed", _claim, {"runs": PK}),
    Hot("runs handed back", lambda r, u: r.release([RUN], OWNER), {"runs": PK}),
    Hot(
        "agio_runs_active (Prometheus)",
        lambda r, u: r.unfinished_by_status(),
        # a count by status of every unfinished run: PostgreSQL may pick any of them
        {"runs": UNFINISHED_INDEXES},
    ),
    Hot("a run by id", lambda r, u: r.get_run(RUN), {"runs": PK}),
    Hot(
        "a session's runs (in progress?)",
        lambda r, u: r.session_run_ids("ses_000800"),
        {"runs": "ix_runs_session_id"},
    ),
    # one run per session (SPEC §12): a chat's check, and the maintenance's queue pass
    Hot(
        "a session's run in progress",
        lambda r, u: r.session_holder("ses_000800"),
        {"runs": "uq_runs_session_slot"},
    ),
    Hot(
        "a session's queued runs",
        lambda r, u: r.queued_runs("ses_000800"),
        {"runs": UNFINISHED_INDEXES | {"ix_runs_session_id"}},
    ),
    Hot(
        "a session's next run to start",
        lambda r, u: r.next_to_start("ses_000800"),
        {
            "runs": UNFINISHED_INDEXES | {"ix_runs_session_id", "uq_runs_session_slot"},
            "runs_1": "uq_runs_session_slot",
        },
    ),
    Hot(
        "sessions whose queue may start",
        lambda r, u: r.sessions_to_advance(),
        # (SQLite names the subquery's alias, PostgreSQL the table)
        {
            "runs": UNFINISHED_INDEXES | {"uq_runs_session_slot"},
            "runs_1": "uq_runs_session_slot",
        },
    ),
    Hot(
        "slots kept by ended runs",
        lambda r, u: r.release_ended(),
        {"runs": frozenset({"uq_runs_session_slot", PK})},
    ),
    Hot("last event seq", lambda r, u: r.max_seq(RUN), {"run_events": PK}),
    Hot("events after a seq (SSE)", lambda r, u: r.events_after(RUN, 1), {"run_events": PK}),
    Hot(
        "API key of a request",
        lambda r, u: u.key_by_prefix("agio_00001234"),
        {"api_keys": "uq_api_keys_prefix", "users": PK},
    ),
]


@pytest.fixture
async def seeded(db: Database) -> Database:
    await _seed(db)
    return db


@pytest.mark.parametrize("hot", HOT, ids=[h.label for h in HOT])
async def test_hot_query_reads_its_index_not_the_history(seeded: Database, hot: Hot) -> None:
    repo, users = RunRepository(seeded), UserRepository(seeded)
    with _captured(seeded) as statements:
        await hot.call(repo, users)
    assert statements, "the call sent no statement"
    for statement, parameters in statements:
        plan = await _plan(seeded, statement, parameters)
        accesses = _accesses(seeded.dialect, plan)
        assert accesses, f"no table read in the plan of {statement}: {plan}"
        for table, how in accesses.items():
            wanted = hot.expected.get(table)
            allowed = wanted if isinstance(wanted, frozenset) else {wanted}
            assert how <= allowed, (
                f"{hot.label}: {table} read by {sorted(how)}, expected "
                f"{hot.expected.get(table)}\n{statement}\n" + "\n".join(plan)
            )


async def test_the_hot_calls_answer_over_the_seeded_data(seeded: Database) -> None:
    """What the plans above are for still gives the right answers."""
    repo = RunRepository(seeded)
    assert await repo.active_runs_of("alice") == 2  # its paused run does not count
    assert await repo.controls_for(OWNER) == {RUN: "pause"}
    assert [r.id for r in await repo.orphaned_runs(_stale())] == [f"run_{HISTORY + 2:06d}"]
    assert await repo.unfinished_by_status() == {
        "pending": 1,
        "running": 2,
        "paused": 1,
        "waiting_approval": 0,
    }


async def test_the_migrated_partial_indexes_are_the_table_definitions(db: Database) -> None:
    """Migrations 0007 (unfinished runs) and 0013 (session slots) and `tables.py` define
    the same columns and the same predicates (the migrations-versus-tables comparison
    does not look at an index's WHERE)."""
    assert set(UNFINISHED_STATUSES) == {s.value for s in RunStatus if not s.terminal}
    partial = [
        i for i in RunRow.__table__.indexes if i.dialect_options["sqlite"]["where"] is not None
    ]
    assert {i.name for i in partial} == {
        "ix_runs_unfinished_user_id_status",
        "ix_runs_unfinished_owner_id",
        "ix_runs_unfinished_status_heartbeat_at",
        "uq_runs_session_slot",
    }
    async with db.engine.connect() as conn:
        for index in partial:
            if db.dialect == "sqlite":
                stored = await conn.scalar(
                    text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": index.name}
                )
                assert stored == str(CreateIndex(index).compile(dialect=conn.dialect))
                continue
            # PostgreSQL keeps the index in its own words: build the defined one next to it
            # and compare the two as the server describes them
            copy = RunRow.__table__.to_metadata(MetaData())
            twin = next(i for i in copy.indexes if i.name == index.name)
            twin.name = f"{index.name}_twin"
            try:
                await conn.execute(CreateIndex(twin))
                query = text(
                    "SELECT pg_get_expr(indpred, indrelid), indkey::text FROM pg_index "
                    "WHERE indexrelid = CAST(:n AS regclass)"
                )
                stored = (await conn.execute(query, {"n": index.name})).one()
                defined = (await conn.execute(query, {"n": twin.name})).one()
                assert stored == defined
                if index.name.startswith("ix_runs_unfinished_"):
                    assert "'pending'" in stored[0]
                    assert "'completed'" not in stored[0]
                else:
                    assert "session_slot IS NOT NULL" in stored[0]
            finally:
                await conn.rollback()
