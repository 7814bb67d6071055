"""Knowledge documents and search hits as records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Document:
    id: str
    knowledge: str
    name: str
    source: str
    content_type: str
    digest: str
    size: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Hit:
    document_id: str
    document: str
    ordinal: int
    content: str
    score: float
