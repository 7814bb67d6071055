"""The run writer's fast path on SQLite: a whole batch in one transaction, in one hop to a
thread of its own that holds a plain `sqlite3` connection.

Through SQLAlchemy's asyncio layer over aiosqlite every statement costs a greenlet switch
and four thread hops (cursor, execute, fetch, close), which made the writer the largest
part of a chat run's CPU. Here the statements of a batch are prepared on the event loop
(values bound by the very processors SQLAlchemy uses for these columns, UTC datetimes by
`sqlite_utc_text`, which writes the same text for less, so that what is stored is byte for
byte what the SQLAlchemy path stores), then executed in the writer's thread between
`BEGIN IMMEDIATE` and `COMMIT`; the SQL of each kind of statement is built once.

Values are bound before the hop, on the event loop: the writer thread never reads an
object that the runtime may still be changing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from agio.storage.database import Database
from agio.storage.sqlite_driver import SQLiteThread
from agio.storage.tables import (
    CheckpointRow,
    RunEventRow,
    RunRow,
    RunStepRow,
    SessionMessageRow,
    SessionRow,
)
from agio.storage.tables_model_calls import ModelCallRow
from agio.storage.types import UTCDateTime, sqlite_utc_text
from agio.storage.webhook_outbox import OutboxStatements
from agio.storage.write_batch import TERMINAL, Batch

#: One statement and the parameter rows to execute it with (`executemany` for several).
Statement = tuple[str, list[tuple[Any, ...]]]

_Processor = Callable[[Any], Any] | None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class TableStatements:
    """INSERTs and UPDATEs of one table, with values bound the way SQLAlchemy binds them on
    this dialect (JSON serialised, datetimes as UTC text, booleans as integers).

    An insert leaves out the columns a row has no key for (so that SQLite assigns an
    autoincrement key), except those with a plain default value, which is filled in as
    SQLAlchemy would; keys that are not columns are ignored, as SQLAlchemy ignores them.
    """

    def __init__(self, model: type[DeclarativeBase], dialect: Dialect) -> None:
        table = model.__table__
        if not isinstance(table, Table):
            raise TypeError(f"{model.__name__} is not mapped to a table")
        self.table = table
        self._name = _quote(table.name)
        self._processors: dict[str, _Processor] = {}
        self._defaults: dict[str, Any] = {}
        for column in table.columns:
            if isinstance(column.type, UTCDateTime) and dialect.name == "sqlite":
                # the same text as SQLAlchemy's processors, for a fraction of their cost
                self._processors[column.key] = sqlite_utc_text
            else:
                impl = column.type.dialect_impl(dialect)
                self._processors[column.key] = impl.bind_processor(dialect)
            default = column.default
            if default is None:
                continue
            if not isinstance(default, ScalarElementColumnDefault):
                raise ValueError(
                    f"{table.name}.{column.key}: only plain column defaults are supported"
                )
            self._defaults[column.key] = default.arg
        for column in table.columns:
            if column.server_default is not None:
                raise ValueError(f"{table.name}.{column.key}: server defaults are not supported")
        self._inserts: dict[
            tuple[str, ...], tuple[str, tuple[tuple[str, _Processor, bool, Any], ...]]
        ] = {}
        self._updates: dict[tuple[tuple[str, ...], str], str] = {}

    def bind(self, key: str, value: Any) -> Any:
        """One value as the driver gets it."""
        processor = self._processors[key]
        return value if processor is None else processor(value)

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> list[Statement]:
        """INSERT statements for `rows`, in order (one `executemany` per run of rows with
        the same keys)."""
        out: list[Statement] = []
        last_keys: tuple[str, ...] | None = None
        params: list[tuple[Any, ...]] = []
        plan: tuple[tuple[str, _Processor, bool, Any], ...] = ()
        for row in rows:
            keys = tuple(row)
            if keys != last_keys:
                sql, plan = self._insert_plan(keys)
                params = []
                out.append((sql, params))
                last_keys = keys
            params.append(
                tuple(
                    [
                        (row[key] if bind is None else bind(row[key])) if present else default
                        for key, bind, present, default in plan
                    ]
                )
            )
        return out

    def values_insert(self, keys: tuple[str, ...]) -> tuple[str, tuple[_Processor, ...]]:
        """The INSERT for rows given as values in the order of `keys` (every column with a
        default among them, in table order), and the bind processor of each."""
        sql, plan = self._insert_plan(keys)
        if len(plan) != len(keys) or any(p[0] != key for p, key in zip(plan, keys, strict=True)):
            raise ValueError("values_insert needs every column with a default, in table order")
        return sql, tuple(bind for _, bind, _, _ in plan)

    def _insert_plan(
        self, keys: tuple[str, ...]
    ) -> tuple[str, tuple[tuple[str, _Processor, bool, Any], ...]]:
        """The INSERT for rows with `keys`, and for each of its columns: the key, its bind
        processor, whether rows have it, and (if not) its default, bound."""
        known = self._inserts.get(keys)
        if known is None:
            present = set(keys)
            columns = [key for key in self._processors if key in present or key in self._defaults]
            # names from the table's metadata, quoted; every value is a parameter
            sql = (
                f"INSERT INTO {self._name} ({', '.join(_quote(c) for c in columns)}) "  # noqa: S608
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            plan = tuple(
                (
                    key,
                    self._processors[key],
                    key in present,
                    None if key in present else self.bind(key, self._defaults[key]),
                )
                for key in columns
            )
            known = self._inserts[keys] = (sql, plan)
        return known

    def update_sql(self, keys: tuple[str, ...], where: str) -> str:
        """`UPDATE table SET k1 = ?, k2 = ? WHERE <where>`; the values of `keys` bind first,
        then those of `where`'s own parameters."""
        cache_key = (keys, where)
        sql = self._updates.get(cache_key)
        if sql is None:
            for key in keys:
                if key not in self._processors:
                    raise KeyError(f"{self.table.name} has no column {key!r}")
            assignments = ", ".join(f"{_quote(key)} = ?" for key in keys)
            # column names checked above; `where` is the caller's constant SQL
            sql = f"UPDATE {self._name} SET {assignments} WHERE {where}"  # noqa: S608
            self._updates[cache_key] = sql
        return sql


class SQLiteBatchConnection:
    """One `sqlite3` connection in a thread of its own; `run` executes statements in one
    write transaction there (`BEGIN IMMEDIATE` ... `COMMIT`), rolled back if any fails."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._thread: SQLiteThread | None = None  # started with the first batch
        self._connection: sqlite3.Connection | None = None

    async def run(self, statements: Sequence[Statement]) -> None:
        thread = self._thread
        if thread is None:
            thread = self._thread = SQLiteThread("agio-sqlite-writer")
        await thread.run(lambda: self._transaction(statements))

    def _transaction(self, statements: Sequence[Statement]) -> None:
        connection = self._connection
        if connection is None:
            connection = self._connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                if len(params) == 1:
                    connection.execute(sql, params[0])
                elif params:
                    connection.executemany(sql, params)
            connection.execute("COMMIT")
        except BaseException:
            self._abandon(connection)
            raise

    def _abandon(self, connection: sqlite3.Connection) -> None:
        """Roll back what failed; a connection that cannot even do that is replaced."""
        try:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        except sqlite3.Error:
            self._connection = None
            with contextlib.suppress(sqlite3.Error):
                connection.close()

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            try:
                await thread.run(self._close)
            finally:
                thread.stop()


_EVENT_COLUMNS = ("run_id", "seq", "type", "data", "created_at")


class WriterStatements:
    """A batch as the statements `_commit` would execute, in the same order, bound for
    `SQLiteBatchConnection` (see `agio.storage.sqlite_batch`)."""

    def __init__(self, db: Database) -> None:
        dialect = db.engine.dialect
        self.connection = SQLiteBatchConnection(db.sqlite_connect)
        self._sessions = TableStatements(SessionRow, dialect)
        self._runs = TableStatements(RunRow, dialect)
        self._events = TableStatements(RunEventRow, dialect)
        self._steps = TableStatements(RunStepRow, dialect)
        self._checkpoints = TableStatements(CheckpointRow, dialect)
        self._messages = TableStatements(SessionMessageRow, dialect)
        self._model_calls = TableStatements(ModelCallRow, dialect)
        self._touch_sql = self._sessions.update_sql(("updated_at",), '"id" = ?')
        self._supersede_sql = self._steps.update_sql(
            ("superseded",), '"run_id" = ? AND "step_num" > ?'
        )
        self._event_sql, binds = self._events.values_insert(_EVENT_COLUMNS)
        # run_id, seq and type go to the driver as they are
        data, created_at = binds[3], binds[4]
        if binds[:3] != (None, None, None) or data is None or created_at is None:
            raise TypeError("run_events: unexpected column types")
        self._event_data: Callable[[Any], Any] = data
        self._event_time: Callable[[Any], Any] = created_at
        self._superseded = self._steps.bind("superseded", True)
        self._terminal = tuple(self._runs.bind("status", status) for status in TERMINAL)
        self._run_where = '"id" = ? AND "status" NOT IN ({})'.format(
            ", ".join("?" for _ in TERMINAL)
        )
        self._outbox = OutboxStatements(dialect)  # --- webhooks

    def prepare(self, b: Batch) -> list[Statement]:
        out: list[Statement] = []
        if b.new_sessions:
            out += self._sessions.insert(b.new_sessions)
        if b.new_runs:
            out += self._runs.insert(b.new_runs)
        if b.touched_sessions:
            bind = self._sessions.bind
            out.append(
                (
                    self._touch_sql,
                    [(bind("updated_at", w), s) for s, w in b.touched_sessions.items()],
                )
            )
        if b.events:
            data, when = self._event_data, self._event_time
            out.append(
                (
                    self._event_sql,
                    [(e.run_id, e.seq, e.type, data(e.data), when(e.timestamp)) for e in b.events],
                )
            )
        if b.supersede:
            out.append(
                (
                    self._supersede_sql,
                    [(self._superseded, run_id, after) for run_id, after in b.supersede],
                )
            )
        if b.steps:
            out += self._steps.insert(b.steps)
        if b.checkpoints:
            out += self._checkpoints.insert(b.checkpoints)
        if b.session_messages:
            out += self._messages.insert(b.session_messages)
        if b.model_calls:
            out += self._model_calls.insert(b.model_calls)
        bind = self._runs.bind
        for run_id, values in b.run_updates.items():
            # a terminal state is final, whoever writes late
            keys = tuple(values)
            out.append(
                (
                    self._runs.update_sql(keys, self._run_where),
                    [
                        (
                            *(bind(key, values[key]) for key in keys),
                            bind("id", run_id),
                            *self._terminal,
                        )
                    ],
                )
            )
        # --- webhooks: the outbox rows of the batch's webhook events, last (as in
        # `core_batch.store`)
        out += self._outbox.prepare(b.events)
        return out
