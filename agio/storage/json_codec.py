"""How JSON columns are written and read (the engines' `json_serializer` and
`json_deserializer`, so every JSON column on both databases, the run writer's SQLite batch
path included): by orjson, several times cheaper than the `json` module, with the `json`
module's results wherever orjson would give others.

Written: orjson's compact UTF-8 text where it stands for the same value, else exactly what
`json.dumps` wrote (and raised) before. orjson writes `NaN` and infinities as `null`, and
UUIDs, enum members, datetimes and dataclasses as values the `json` module refuses; so its
text is read back and compared with the value (a cheap check next to the `json` module's
encoder), and any difference goes to `json.dumps`: `NaN` is stored as `NaN` on SQLite and
refused by PostgreSQL as before, a value that is not JSON is refused as before. Integers
beyond 64 bits, keys that are not strings and text that is not Unicode (a lone surrogate)
make orjson raise, and go the same way. Tuples (read back as lists) take that path too.

Read: orjson, except for text it refuses (`NaN`, `Infinity`, an escaped lone surrogate, a
number beyond a double) and text with a run of 19 or more digits, which may be an integer
beyond 64 bits that orjson would read as a float: those go to `json.loads`, as before.
Either text reads back to the same value.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import orjson

# datetimes and dataclasses make orjson raise instead of writing what `json` refuses
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_LONG_NUMBER = b"0" * 19


def dumps(value: Any) -> str:
    """`value` as JSON text for a JSON column."""
    try:
        text = orjson.dumps(value, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value)
    if orjson.loads(text) != value:
        return json.dumps(value)
    return text.decode()


def loads(text: str | bytes) -> Any:
    """The value of a JSON column's text."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _LONG_NUMBER not in raw.translate(_DIGITS):
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(raw)
    return json.loads(text)
