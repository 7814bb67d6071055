"""Knowledge bases, their documents, and search."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from agio.api.schemas.common import JSON_INT
from agio.domain.knowledge import Document


class KnowledgeBase(BaseModel):
    name: str
    description: str
    paths: list[str]
    documents: int
    chunks: int
    chunk_size: int
    chunk_overlap: int
    top_k: int
    embedding: str | None = Field(description="The embedding model component, if any.")
    search_mode: Literal["fulltext", "vector", "hybrid"] = Field(
        description="The mode a search without `mode` uses."
    )


class KnowledgeList(BaseModel):
    items: list[KnowledgeBase]


class DocumentOut(BaseModel):
    id: str
    knowledge: str
    name: str
    source: Literal["file", "api"]
    content_type: str
    size: int = Field(description="Bytes of the document as given.")
    chunk_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, d: Document) -> DocumentOut:
        return cls(
            id=d.id,
            knowledge=d.knowledge,
            name=d.name,
            source=d.source,
            content_type=d.content_type,
            size=d.size,
            chunk_count=d.chunk_count,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )


class DocumentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=512, pattern=r"^[^\x00-\x1f]+$", description="Unique in the base."
    )
    content: str = Field(min_length=1, max_length=2_000_000)
    content_type: Literal["markdown", "text", "html"] = "markdown"


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000)
    top_k: Annotated[int, Field(ge=1, le=50), JSON_INT] | None = None
    mode: Literal["fulltext", "vector", "hybrid"] | None = Field(
        default=None,
        description="`fulltext` (the database's own engine), `vector` (cosine similarity of "
        "embeddings) or `hybrid` (both, merged by reciprocal rank fusion, k = 60). Default: "
        "the component's `search_mode`, else `hybrid` with an embedding model, else "
        "`fulltext`.",
    )


class SearchHit(BaseModel):
    document_id: str
    document: str
    ordinal: int = Field(description="The chunk's position in its document.")
    content: str
    score: float = Field(
        description="Higher is better: fulltext BM25 (SQLite) or ts_rank (PostgreSQL); "
        "vector the cosine similarity; hybrid the fused score, the sum of 1 / (60 + rank)."
    )


class SearchResponse(BaseModel):
    knowledge: str
    query: str
    mode: Literal["fulltext", "vector", "hybrid"]
    results: list[SearchHit]


class ReindexResponse(BaseModel):
    knowledge: str
    documents: int = Field(description="Files indexed again (or dropped, if gone).")


#: the multipart form of `POST /api/knowledge/{name}/documents` (read by hand in the
#: route, which also takes JSON: this is its schema in the OpenAPI document)
UPLOAD_FORM_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["file"],
    "additionalProperties": False,
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "A text (.txt), Markdown (.md), HTML (.html) or PDF (.pdf) file, "
            "up to AGIO_MAX_UPLOAD_BYTES; its media type or, if unspecific, its name says "
            "which.",
        },
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 512,
            "pattern": "^[^\\x00-\\x1f]+$",
            "description": "The document's name (unique in the base); default: the file's name.",
        },
    },
}
