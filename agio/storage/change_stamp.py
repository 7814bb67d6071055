"""A file beside a SQLite database that grows by a byte at every change of some kind of
row, so that every process using the database, with or without a bus between them, sees
the change on its next look (a `stat`, no read)."""

from __future__ import annotations

import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


class ChangeStamp:
    """`<database>.<suffix>`: `bump` after a change is committed, `changed` before trusting
    what was remembered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen = self._look()

    @classmethod
    def beside(cls, database_file: str | None, suffix: str) -> ChangeStamp | None:
        """The stamp of a SQLite file; None without one (PostgreSQL)."""
        return cls(Path(f"{database_file}.{suffix}")) if database_file else None

    def _look(self) -> tuple[int, int, int] | None:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (found.st_ino, found.st_size, found.st_mtime_ns)

    def changed(self) -> bool:
        """Has the file changed since the last look?"""
        now = self._look()
        if now == self._seen:
            return False
        self._seen = now
        return True

    def bump(self) -> None:
        """Tell the other processes (an append: its size only grows, so no two changes
        look alike, however close together). This process's next `changed` is true too."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, b".")
            finally:
                os.close(fd)
        except OSError as exc:  # what the others remember still expires
            log.warning("change_stamp_failed", path=str(self.path), error=str(exc))
