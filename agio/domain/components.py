"""A component as the repository stores it and the services and the API read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StoredComponent:
    """A component as stored: `config` is the full component with real secret values."""

    id: str
    name: str
    type: str
    description: str
    enabled: bool
    tags: list[str]
    config: dict[str, Any]
    revision: int
    source: str
    file_digest: str | None
    created_at: datetime
    updated_at: datetime
