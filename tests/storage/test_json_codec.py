"""JSON columns by orjson: compact UTF-8 text where it stands for the value, exactly the
`json` module's text (or error) where orjson would write something else, and reads that
give what `json.loads` gives, on both databases."""

from __future__ import annotations

import enum
import json
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from agio.bus.memory import InProcessBus
from agio.storage import json_codec, migrate
from agio.storage.database import Database
from agio.storage.runs import new_run_rows
from agio.storage.tables import RunEventRow
from agio.storage.types import sqlite_utc_text
from agio.storage.writer import RunWriter
from tests.storage.seed import make_run

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


async def _a_run(db: Database) -> None:
    writer = RunWriter(db, InProcessBus())
    writer.start()
    try:
        writer.create_run(new_run_rows(make_run("run_1", "ses_1"), new_session=True, owner_id="me"))
        await writer.flush()
    finally:
        await writer.close()


class Colour(enum.Enum):
    RED = 1


@pytest.mark.parametrize(
    "value",
    [
        {"content": 'Grüße ✓ \u2028 "quoted" \\ \x01'},
        {"a": [1, 2.5, -0.0, None, True, False], "b": {"c": {}}, "d": []},
        {"n": 9_223_372_036_854_775_807, "m": -9_223_372_036_854_775_808, "f": 1e16},
        [0.1, 5e-324, 1.7976931348623157e308],
        "plain",
        None,
    ],
)
def test_orjson_writes_what_reads_back_as_the_value(value: Any) -> None:
    written = json_codec.dumps(value)
    assert written == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert json.loads(written) == value
    assert json_codec.loads(written) == value


@pytest.mark.parametrize(
    "value",
    [
        {"x": float("nan")},  # orjson: null; json: NaN (refused by PostgreSQL, as before)
        {"x": [float("inf"), float("-inf")]},
        {"big": 2**64},  # orjson refuses integers beyond 64 bits
        {1: "a key that is not a string", None: 2},
        {"text": "half a character: \udc80"},  # orjson refuses lone surrogates
        {"pair": (1, 2)},  # read back as a list: json's text, the same value
    ],
)
def test_what_orjson_would_write_otherwise_is_json_modules_text(value: Any) -> None:
    assert json_codec.dumps(value) == json.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"id": uuid.UUID(int=1)},
        {"colour": Colour.RED},
        {"when": NOW},
        {"set": {1, 2}},
        {"object": object()},
    ],
)
def test_values_that_are_not_json_are_refused_as_before(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        json_codec.dumps(value)


@pytest.mark.parametrize(
    "stored",
    [
        '{"x": NaN, "y": [Infinity, -Infinity]}',
        '{"big": 123456789012345678901234567890, "neg": -9999999999999999999}',
        '{"id": "run_1234567890123456789012"}',  # a long run of digits in text
        '{"text": "half a character: \\udc80"}',
        '{"huge": 1e400}',
        '{"a": 1, "a": 2}',
        '{"ascii": "Gr\\u00fc\\u00dfe"}',
        "[1, 2.5, null, true]",
    ],
)
def test_reads_give_what_json_loads_gives(stored: str) -> None:
    expected, read = json.loads(stored), json_codec.loads(stored)
    assert repr(read) == repr(expected)  # NaN != NaN; the repr tells floats from ints
    assert repr(json_codec.loads(stored.encode("utf-8", "surrogatepass"))) == repr(expected)


async def test_columns_round_trip_through_the_engine(db: Database) -> None:
    """Text written before (the `json` module's, spaces, escapes, NaN on SQLite) and text
    the fallback writes read back as the values they stand for."""
    await _a_run(db)
    values: list[dict[str, Any]] = [
        {"content": "Grüße ✓", "nested": {"a": [1, None]}},
        {"big": 2**70, "neg": -(2**80)},
        {"pair": (1, 2)},
    ]
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(RunEventRow),
            [
                {"run_id": "run_1", "seq": seq, "type": "t", "data": data, "created_at": NOW}
                for seq, data in enumerate(values, 1)
            ],
        )
        # as the `json` module wrote it (ensure_ascii, spaces)
        old = json.dumps({"content": "Grüße ✓", "n": 1.5})
        if db.dialect == "sqlite":
            data, created_at = ":data", sqlite_utc_text(NOW)
        else:
            data, created_at = "CAST(:data AS JSONB)", NOW
        await conn.execute(
            text(
                "INSERT INTO run_events (run_id, seq, type, data, created_at) "
                f"VALUES ('run_1', 4, 't', {data}, :created_at)"
            ).bindparams(data=old, created_at=created_at),
        )
    async with db.sessions() as s:
        stored = (
            (await s.execute(select(RunEventRow.data).order_by(RunEventRow.seq))).scalars().all()
        )
    assert stored == [
        values[0],
        values[1],
        {"pair": [1, 2]},
        {"content": "Grüße ✓", "n": 1.5},
    ]
    assert isinstance(stored[1]["big"], int)


async def test_nan_stays_nan_on_sqlite(tmp_path: Path) -> None:
    """As the `json` module wrote it (PostgreSQL refuses it: tests/storage/test_writer.py)."""
    db = Database(f"sqlite:///{tmp_path / 'nan.db'}")
    try:
        await migrate.upgrade(db)
        await _a_run(db)
        row = {"run_id": "run_1", "seq": 1, "type": "t", "data": {"x": math.nan}, "created_at": NOW}
        async with db.engine.begin() as conn:
            await conn.execute(insert(RunEventRow), [row])
            raw = (await conn.execute(text("SELECT data FROM run_events"))).scalar_one()
        async with db.sessions() as s:
            data = (await s.execute(select(RunEventRow.data))).scalar_one()
    finally:
        await db.dispose()
    assert raw == '{"x": NaN}'
    assert math.isnan(data["x"])
