"""The SQLite driver under SQLAlchemy's asyncio engine: `sqlite3` with one thread per
connection, used only for what may wait.

SQLAlchemy's `aiosqlite` dialect normally drives aiosqlite, which runs every call in the
connection's thread: a cursor, its execute, its fetch and its close are four thread hops
per statement, and on the 2-core development machine a short read session (begin, one
select, rollback) cost 1.5 ms of CPU that way, against 0.2 ms for the same work done in
place. This driver keeps the dialect (SQL, types, pooling, events are SQLAlchemy's, unchanged)
and replaces aiosqlite underneath:

- what cannot wait runs in place on the event loop: `SELECT` (a WAL reader takes no
  lock), `BEGIN` / `BEGIN DEFERRED` (it takes none either), `ROLLBACK`, and `COMMIT` of a
  transaction that wrote nothing;
- everything else, which may wait for the write lock (`BEGIN IMMEDIATE`, writes up to
  `busy_timeout`) or for the disk (a commit, a checkpoint), runs in the connection's own
  thread, one hop per statement with its rows fetched in the same hop;
- while a call is in that thread (a caller cancelled mid-statement) nothing runs in place
  on the connection: later calls queue behind it in the thread, in order, as with
  aiosqlite.

Rows are fetched whole at execute (as SQLAlchemy's adapter does for aiosqlite), so a
cursor's `fetch*` and `close` never wait.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi
from sqlalchemy.engine.interfaces import AdaptedConnection
from sqlalchemy.util.concurrency import await_, in_greenlet

_T = TypeVar("_T")
_Call = tuple[asyncio.AbstractEventLoop | None, "asyncio.Future[Any] | None", Callable[[], Any]]

# Statements that take no lock that another connection can hold against them, and do no
# disk write that may wait: safe to run on the event loop.
_IN_PLACE = re.compile(
    r"\s*(?:SELECT\b|BEGIN(?:\s+DEFERRED)?(?:\s+TRANSACTION)?\s*;?\s*$|ROLLBACK\b)",
    re.IGNORECASE,
)


class SQLiteThread:
    """One daemon thread that runs calls in order; `run` awaits one from the event loop.

    Daemon, as aiosqlite's thread is: a call still waiting for a lock at interpreter exit
    does not hold the exit up.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._submitted = 0
        self._finished = 0  # written by the thread only
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """True when no call is queued or running."""
        return self._finished == self._submitted

    def submit(self, fn: Callable[[], _T]) -> asyncio.Future[_T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._submitted += 1
        self._calls.put((loop, future, fn))
        return future

    async def run(self, fn: Callable[[], _T]) -> _T:
        return await self.submit(fn)

    def post(self, fn: Callable[[], object]) -> None:
        """Run `fn` in the thread without waiting for it (no event loop needed); what it
        raises is dropped."""
        self._submitted += 1
        self._calls.put((None, None, fn))

    def stop(self) -> None:
        """Let the thread end once the calls already submitted have run."""
        self._calls.put(None)

    def _main(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            loop, future, fn = item
            try:
                result = fn()
            except BaseException as exc:  # handed to the awaiting side
                self._finished += 1
                if loop is not None:
                    _hand_over(loop, _set_exception, future, exc)
            else:
                self._finished += 1
                if loop is not None:
                    _hand_over(loop, _set_result, future, result)


def _hand_over(loop: asyncio.AbstractEventLoop, setter: Callable[..., None], *args: Any) -> None:
    # a closed event loop raises RuntimeError: nobody waits any more
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(setter, *args)


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


async def _at_once(fn: Callable[..., _T], args: tuple[Any, ...]) -> _T:
    return fn(*args)


class SQLiteCursor:
    """A DBAPI cursor for SQLAlchemy: rows are fetched whole when the statement runs."""

    server_side = False

    def __init__(self, connection: SQLiteConnection) -> None:
        self._adapt = connection
        self._cursor: sqlite3.Cursor | None = None
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def _execute_here(self, operation: str, parameters: Any) -> None:
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = self._adapt.sqlite.cursor()
        cursor.execute(operation, parameters)
        self._after(cursor)

    def _executemany_here(self, operation: str, parameters: Sequence[Any]) -> None:
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = self._adapt.sqlite.cursor()
        cursor.executemany(operation, parameters)
        self._after(cursor)

    def _after(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        self._rows = collections.deque(cursor.fetchall() if cursor.description else ())
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid

    def execute(self, operation: str, parameters: Any = None) -> None:
        if parameters is None:
            parameters = ()
        adapt = self._adapt
        if _IN_PLACE.match(operation) is not None:
            adapt.call(self._execute_here, operation, parameters, in_place=True)
        else:
            adapt.wrote = True
            adapt.call(self._execute_here, operation, parameters)

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        self._adapt.wrote = True
        self._adapt.call(self._executemany_here, operation, seq_of_parameters)

    async def _async_soft_close(self) -> None:
        """Called by SQLAlchemy's asyncio layer after each execute: the rows are already
        fetched, so there is nothing to wait for."""

    def close(self) -> None:
        # SQLAlchemy may close a cursor outside its greenlet (a buffered Result's `first()`
        # on an AsyncConnection): so never wait here. Closing a sqlite3 cursor does not
        # block; it runs in place, or after whatever the connection's thread is doing.
        self._rows.clear()
        cursor, self._cursor = self._cursor, None
        if cursor is None or self._adapt.closed:
            return
        thread = self._adapt.thread
        if thread.idle:
            cursor.close()
        else:
            thread.post(cursor.close)

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        rows = self._rows
        return [rows.popleft() for _ in range(min(count, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def setinputsizes(self, *inputsizes: Any) -> None:
        """Part of the DBAPI; sqlite3 ignores it too."""

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        """Part of the DBAPI; sqlite3 ignores it too."""

    def __iter__(self) -> Any:
        while self._rows:
            yield self._rows.popleft()


class SQLiteConnection(AdaptedConnection):
    """A DBAPI connection for SQLAlchemy over a `sqlite3` connection and its thread."""

    __slots__ = ("_dbapi", "_sqlite", "_thread", "closed", "wrote")

    def __init__(
        self, dbapi: SQLiteDBAPI, connection: sqlite3.Connection, thread: SQLiteThread
    ) -> None:
        self._dbapi = dbapi
        self._connection = connection  # type: ignore[assignment]  # a DBAPI one, not asyncio
        self._sqlite = connection
        self._thread = thread
        self.closed = False
        #: the open transaction (if any) ran something in the thread: its commit does too
        self.wrote = False

    @property
    def sqlite(self) -> sqlite3.Connection:
        return self._sqlite

    @property
    def thread(self) -> SQLiteThread:
        return self._thread

    def call(self, fn: Callable[..., _T], *args: Any, in_place: bool = False) -> _T:
        """Run `fn(*args)` in place if allowed and the thread is idle, else in the thread
        (from SQLAlchemy's greenlet, waiting for it)."""
        if in_place and self._thread.idle:
            # through a coroutine that completes at once: SQLAlchemy's asyncio layer
            # checks that a driver call awaited (it does not suspend the task)
            return await_(_at_once(fn, args))
        if args:
            return await_(self._thread.run(lambda: fn(*args)))
        return await_(self._thread.run(fn))

    def cursor(self, server_side: bool = False) -> SQLiteCursor:
        # server-side cursors are buffered like the others: rows are fetched at execute
        return SQLiteCursor(self)

    def execute(self, operation: str, parameters: Any = None) -> SQLiteCursor:
        cursor = self.cursor()
        cursor.execute(operation, parameters)
        return cursor

    @property
    def isolation_level(self) -> str | None:
        return self.sqlite.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # changing it may commit an open transaction: in the thread
        def set_level() -> None:
            self.sqlite.isolation_level = value  # type: ignore[assignment]  # checked by sqlite3

        self.call(set_level)

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.call(lambda: self.sqlite.create_function(*args, **kwargs))

    @property
    def in_transaction(self) -> bool:
        return self.sqlite.in_transaction

    def commit(self) -> None:
        wrote, self.wrote = self.wrote, False
        self.call(self.sqlite.commit, in_place=not wrote)

    def rollback(self) -> None:
        self.wrote = False
        if not self.closed:
            self.call(self.sqlite.rollback, in_place=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if in_greenlet():
            try:
                self.call(self.sqlite.close)
            finally:
                self._thread.stop()
        else:  # garbage collection, or a pool emptied outside the event loop
            self._close_later()

    def terminate(self) -> None:
        self.close()

    def _close_later(self) -> None:
        # the thread closes it once what is queued there has run, then ends
        self._thread.post(self.sqlite.close)
        self._thread.stop()


class SQLiteDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI "module" handed to SQLAlchemy's aiosqlite dialect (`module=`): the
    dialect's DBAPI attributes and exceptions (those of `sqlite3`), and this driver's
    connections."""

    def __init__(self) -> None:
        import aiosqlite

        super().__init__(aiosqlite, sqlite3)
        self.has_stop = True

    def connect(self, *args: Any, **kwargs: Any) -> SQLiteConnection:  # type: ignore[override]
        if kwargs.pop("async_creator_fn", None) is not None:
            raise ValueError("this SQLite driver does not take an async_creator")
        # used from its own thread and, for what cannot wait, the event loop's: never from
        # both at once
        kwargs["check_same_thread"] = False
        thread = SQLiteThread("agio-sqlite")
        try:
            connection = await_(thread.run(lambda: sqlite3.connect(*args, **kwargs)))
        except BaseException:
            thread.stop()
            raise
        return SQLiteConnection(self, connection, thread)
