"""Secrets sent back masked: a client (or a run's snapshot) that holds a component as read,
its secrets shown as `MASK`, keeps the stored secrets where it still holds the mask."""

from __future__ import annotations

from typing import Any

from agio.config.component_base import MASK
from agio.config.components import TOOL_SECRET_MAPS


def restore_masked(data: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Put `stored`'s secret back wherever `data` (a component's dump, changed in place)
    holds the mask: its `api_key`, and the values of its secret maps (`headers`, `env`).
    Returns the paths that hold the mask with no stored secret to put back."""
    missing: list[str] = []
    if data.get("api_key") == MASK:
        if stored.get("api_key"):
            data["api_key"] = stored["api_key"]
        else:
            missing.append("api_key")
    for field in TOOL_SECRET_MAPS:
        values = data.get(field)
        if not isinstance(values, dict):
            continue
        old_values = stored.get(field) or {}
        for key, value in values.items():
            if value == MASK:
                if key in old_values:
                    values[key] = old_values[key]
                else:
                    missing.append(f"{field}.{key}")
    return missing
