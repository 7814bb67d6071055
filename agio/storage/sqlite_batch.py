"""The run writer's fast path on SQLite: a whole batch in one transaction, in one hop to a
thread of its own that holds a plain `sqlite3` connection.

Through SQLAlchemy's asyncio layer over aiosqlite every statement costs a greenlet switch
and four thread hops (cursor, execute, fetch, close), which made the writer the largest
part of a chat run's CPU. Here the statements of a batch are prepared on the event loop
(values bound by the very processors SQLAlchemy uses for these columns, so that what is
stored is byte for byte what the SQLAlchemy path stores), then executed in the writer's
thread between `BEGIN IMMEDIATE` and `COMMIT`.

Values are bound before the hop, on the event loop: the writer thread never reads an
object that the runtime may still be changing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.sql.schema import ScalarElementColumnDefault

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

    def __init__(self, table: Table, dialect: Dialect) -> None:
        self.table = table
        self._name = _quote(table.name)
        self._processors: dict[str, _Processor] = {}
        self._defaults: dict[str, Any] = {}
        for column in table.columns:
            self._processors[column.key] = column.type.dialect_impl(dialect).bind_processor(
                dialect
            )
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
        self._inserts: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {}
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
        columns: tuple[str, ...] = ()
        for row in rows:
            keys = tuple(row)
            if keys != last_keys:
                sql, columns = self._insert_sql(keys)
                params = []
                out.append((sql, params))
                last_keys = keys
            params.append(tuple(self._value(row, key) for key in columns))
        return out

    def _value(self, row: Mapping[str, Any], key: str) -> Any:
        value = row[key] if key in row else self._defaults[key]
        processor = self._processors[key]
        return value if processor is None else processor(value)

    def _insert_sql(self, keys: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        known = self._inserts.get(keys)
        if known is None:
            present = set(keys)
            columns = tuple(
                key for key in self._processors if key in present or key in self._defaults
            )
            sql = (
                f"INSERT INTO {self._name} ({', '.join(_quote(c) for c in columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            known = self._inserts[keys] = (sql, columns)
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
            sql = self._updates[cache_key] = f"UPDATE {self._name} SET {assignments} WHERE {where}"
        return sql


class SQLiteBatchConnection:
    """One `sqlite3` connection in a thread of its own; `run` executes statements in one
    write transaction there (`BEGIN IMMEDIATE` ... `COMMIT`), rolled back if any fails."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agio-sqlite-writer")
        self._connection: sqlite3.Connection | None = None

    async def run(self, statements: Sequence[Statement]) -> None:
        await asyncio.get_running_loop().run_in_executor(
            self._executor, self._transaction, statements
        )

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
            try:
                connection.close()
            except sqlite3.Error:
                pass

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    async def close(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        finally:
            self._executor.shutdown(wait=False)
