"""JSON merge patch (RFC 7386): what `PATCH` bodies mean.

The RFC's algorithm is a few lines; the one PyPI package for it is untyped and changes
its arguments in place, so it is written here (typed, leaving both arguments unchanged).
"""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` with `patch` applied: objects merge key by key, recursively; `null`
    removes a key; anything else (lists included) replaces the value. Neither argument
    is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


__all__ = ["merge_patch"]
