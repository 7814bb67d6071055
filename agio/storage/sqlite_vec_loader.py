"""sqlite-vec's SQL functions (`vec_distance_cosine`, …) in every SQLite connection Agio
opens, so that knowledge vectors are ranked in SQL.

Two ways, the first that works:

1. `Connection.load_extension` with the extension file that the `sqlite-vec` package
   ships, where Python's `sqlite3` was built with loadable extensions (most are);
2. else, where `sqlite3` links a shared SQLite library (pyenv's default build does, without
   `load_extension`), sqlite-vec's entry point registered with that library's
   `sqlite3_auto_extension`, once per process: every connection opened afterwards runs it.

The automatic extension applies to every SQLite connection of the process (it only adds
functions). Where neither works (no sqlite-vec, a SQLite without extensions),
`SELECT vec_version()` fails and the vectors repository ranks in Python instead (an exact
scan, docs/knowledge.md).
"""

from __future__ import annotations

import ctypes
import sqlite3
import threading
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_lock = threading.Lock()
_auto: bool | None = None  # registered as an auto extension (None: not tried yet)


def _extension_path() -> str | None:
    try:
        import sqlite_vec  # type: ignore[import-untyped]
    except ImportError:
        return None
    return str(sqlite_vec.loadable_path())


def _register_auto_extension(path: str) -> bool:
    import _sqlite3

    files = [path + suffix for suffix in (".so", ".dylib", ".dll") if Path(path + suffix).exists()]
    if not files:
        return False
    try:
        library = ctypes.CDLL(_sqlite3.__file__)
        entry = ctypes.CDLL(files[0]).sqlite3_vec_init
        register = library.sqlite3_auto_extension
    except (OSError, AttributeError):
        return False
    register.argtypes = [ctypes.c_void_p]
    register.restype = ctypes.c_int
    return int(register(ctypes.cast(entry, ctypes.c_void_p))) == 0


def prepare() -> None:
    """Before connections are opened: where `sqlite3` cannot load extensions itself,
    register sqlite-vec with its SQLite library (once per process)."""
    global _auto
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return
    with _lock:
        if _auto is None:
            path = _extension_path()
            _auto = path is not None and _register_auto_extension(path)
            if not _auto:
                log.info("sqlite_vec_unavailable", reason="no loadable extension support")


def load(connection: sqlite3.Connection) -> None:
    """Load sqlite-vec into one new connection, where `sqlite3` can (else `prepare` did)."""
    if not hasattr(connection, "enable_load_extension"):
        return
    path = _extension_path()
    if path is None:
        return
    try:
        connection.enable_load_extension(True)
        try:
            connection.load_extension(path)
        finally:
            connection.enable_load_extension(False)
    except sqlite3.Error as exc:
        log.info("sqlite_vec_unavailable", reason=str(exc))


def raw_connection(dbapi_connection: Any) -> sqlite3.Connection:
    """The `sqlite3` connection under the engine's DBAPI adapter (or the one given)."""
    inner = getattr(dbapi_connection, "sqlite", dbapi_connection)
    assert isinstance(inner, sqlite3.Connection)
    return inner
