"""The table of knowledge vectors (SPEC §21), registered on `agio.storage.table_base.Base`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.dialects.postgresql import ARRAY, REAL
from sqlalchemy.orm import Mapped, mapped_column

from agio.storage.table_base import Base

#: float32 little-endian bytes on SQLite (what sqlite-vec's functions read), `real[]` on
#: PostgreSQL (summed in SQL, or cast to pgvector's `vector` where the extension exists)
EmbeddingType = LargeBinary().with_variant(ARRAY(REAL()), "postgresql")


class KnowledgeVectorRow(Base):
    """The embedding of one chunk, by the embedding model whose `fingerprint` (endpoint and
    model, `agio.models.embeddings.fingerprint`) made it: one vector per chunk, replaced
    when the knowledge's embedding model changes; gone with its chunk."""

    __tablename__ = "knowledge_vectors"

    chunk_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_chunks.id", ondelete="CASCADE"), primary_key=True
    )
    knowledge: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    dimensions: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[Any] = mapped_column(EmbeddingType)

    __table_args__ = (Index(None, "knowledge", "fingerprint"),)
