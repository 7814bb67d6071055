"""`sqlite_utc_text` writes what SQLAlchemy binds for a `UTCDateTime` column on SQLite,
character for character, and refuses what it refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import sqlite

from agio.storage.types import UTCDateTime, sqlite_utc_text

_DIALECT = sqlite.dialect()
# what SQLAlchemy binds: `process_bind_param`, then the SQLite DATETIME processor
SQLALCHEMY = UTCDateTime().dialect_impl(_DIALECT).bind_processor(_DIALECT)

DATETIMES = [
    datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 6, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 3, 4, 5, 6, 7, 80, tzinfo=UTC),  # a year of three digits
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 3, 29, 2, 30, 0, 5, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(2026, 1, 1, 0, 0, tzinfo=timezone(-timedelta(hours=12))),
    datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(0))),  # UTC, not `UTC` itself
    datetime(2026, 1, 1, 0, 0, 0, 42, tzinfo=ZoneInfo("UTC")),
    datetime.now(UTC),
    None,
]


@pytest.mark.parametrize("value", DATETIMES)
def test_the_same_text_as_sqlalchemy(value: datetime | None) -> None:
    assert SQLALCHEMY is not None
    assert sqlite_utc_text(value) == SQLALCHEMY(value)


def test_every_microsecond_of_a_second_range() -> None:
    assert SQLALCHEMY is not None
    start = datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC)
    for step in range(0, 2_000_000, 997):
        value = start + timedelta(microseconds=step)
        assert sqlite_utc_text(value) == SQLALCHEMY(value)


@pytest.mark.parametrize(
    ("value", "error"),
    [(datetime(2026, 1, 2, 3, 4, 5), ValueError), (date(2026, 1, 2), AttributeError)],
)
def test_refused_as_sqlalchemy_refuses(value: Any, error: type[Exception]) -> None:
    assert SQLALCHEMY is not None
    with pytest.raises(error):
        SQLALCHEMY(value)
    with pytest.raises(error):
        sqlite_utc_text(value)
