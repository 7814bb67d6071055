"""The change stamp beside a SQLite file: a change made by one process is seen once by
every other, however close together the changes come."""

from __future__ import annotations

from pathlib import Path

from agio.storage.change_stamp import ChangeStamp


def test_a_bump_is_seen_once_by_every_process(tmp_path: Path) -> None:
    database = str(tmp_path / "agio.db")
    one = ChangeStamp.beside(database, "things")
    two = ChangeStamp.beside(database, "things")
    assert one is not None
    assert two is not None
    assert one.path == tmp_path / "agio.db.things"
    assert not one.changed()
    assert not two.changed()
    one.bump()
    assert two.changed()
    assert not two.changed()
    assert one.changed()  # its own change too
    for _ in range(3):  # within the same clock tick: the size still grows
        two.bump()
        assert one.changed()
    assert one.path.stat().st_size == 4


def test_no_stamp_without_a_file() -> None:
    assert ChangeStamp.beside(None, "things") is None


def test_a_stamp_that_cannot_be_written_is_logged_not_raised(tmp_path: Path) -> None:
    stamp = ChangeStamp(tmp_path / "missing-folder" / "agio.db.things")
    stamp.bump()
    assert not stamp.changed()
