"""The fields that differ between two configurations of a component (SPEC §16: `GET
/api/config/{name}/diff`).

Objects are walked key by key (keys sorted: PostgreSQL's JSONB keeps no order, so the
output is the same on both databases); anything else, lists included, is compared whole.
A field present on one side only is reported with `None` on the other, and a field that
is `None` on one side and missing on the other has not changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldChange:
    #: the keys from the top of the configuration down to the field
    path: tuple[str, ...]
    old: Any
    new: Any


def config_changes(
    old: dict[str, Any] | None, new: dict[str, Any] | None, path: tuple[str, ...] = ()
) -> list[FieldChange]:
    """Every field that differs between `old` and `new` (None: no configuration, as at a
    deletion), depth first, in key order."""
    before = old or {}
    after = new or {}
    changes: list[FieldChange] = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes.extend(config_changes(a, b, (*path, key)))
        elif not _same(a, b):
            changes.append(FieldChange((*path, key), a, b))
    return changes


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    # JSON has one kind of number (`1` is `1.0`), and a boolean is not one (`true` is not
    # `1`, though Python says `True == 1`)
    if _number(a) and _number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


__all__ = ["FieldChange", "config_changes"]
