"""Knowledge documents and their chunks, and ranked full-text search with the database's
own engine: SQLite FTS5 ranked by BM25, PostgreSQL `tsvector` ranked by `ts_rank`."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, insert, select, text

from agio.domain.ids import new_id
from agio.domain.knowledge import Document as Document
from agio.domain.knowledge import Hit as Hit
from agio.domain.time import utcnow
from agio.storage.components import Page
from agio.storage.database import Database
from agio.storage.tables import KnowledgeChunkRow, KnowledgeDocumentRow

_TERM = re.compile(r"\w+", re.UNICODE)
_MAX_TERMS = 32


def _document(row: KnowledgeDocumentRow) -> Document:
    return Document(
        id=row.id,
        knowledge=row.knowledge,
        name=row.name,
        source=row.source,
        content_type=row.content_type,
        digest=row.digest,
        size=row.size,
        chunk_count=row.chunk_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def search_terms(query: str) -> list[str]:
    """The words of a query, lower-cased and de-duplicated: whatever the user typed never
    reaches the full-text engine's own query syntax."""
    seen: dict[str, None] = {}
    for word in _TERM.findall(query.lower()):
        if len(word) > 1 or word.isdigit():
            seen.setdefault(word[:64], None)
    return list(seen)[:_MAX_TERMS]


class KnowledgeRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put_document(
        self,
        knowledge: str,
        name: str,
        *,
        source: str,
        content_type: str,
        digest: str,
        size: int,
        chunks: list[str],
    ) -> tuple[Document, bool]:
        """Store a document and its chunks, replacing one of the same name. Returns it and
        whether anything changed (the same text is not indexed again)."""
        now = utcnow()
        async with self._db.write_sessions() as s, s.begin():
            row = await s.scalar(
                select(KnowledgeDocumentRow).where(
                    KnowledgeDocumentRow.knowledge == knowledge, KnowledgeDocumentRow.name == name
                )
            )
            if row is not None and row.digest == digest and row.source == source:
                return _document(row), False
            if row is None:
                row = KnowledgeDocumentRow(
                    id=new_id("doc"),
                    knowledge=knowledge,
                    name=name,
                    created_at=now,
                )
                s.add(row)
            else:
                await s.execute(
                    delete(KnowledgeChunkRow).where(KnowledgeChunkRow.document_id == row.id)
                )
            row.source = source
            row.content_type = content_type
            row.digest = digest
            row.size = size
            row.chunk_count = len(chunks)
            row.updated_at = now
            await s.flush()
            if chunks:
                await s.execute(
                    insert(KnowledgeChunkRow),
                    [
                        {
                            "document_id": row.id,
                            "knowledge": knowledge,
                            "ordinal": i,
                            "content": chunk,
                        }
                        for i, chunk in enumerate(chunks)
                    ],
                )
            return _document(row), True

    async def get_document(self, knowledge: str, document_id: str) -> Document | None:
        async with self._db.sessions() as s:
            row = await s.get(KnowledgeDocumentRow, document_id)
            return _document(row) if row is not None and row.knowledge == knowledge else None

    async def delete_document(self, document_id: str) -> None:
        async with self._db.write_sessions() as s, s.begin():
            # chunks first and explicitly (SQLite's FTS triggers see each deleted row)
            await s.execute(
                delete(KnowledgeChunkRow).where(KnowledgeChunkRow.document_id == document_id)
            )
            await s.execute(
                delete(KnowledgeDocumentRow).where(KnowledgeDocumentRow.id == document_id)
            )

    async def list_documents(
        self, knowledge: str, *, limit: int = 1000, offset: int = 0, source: str | None = None
    ) -> Page[Document]:
        where = [KnowledgeDocumentRow.knowledge == knowledge]
        if source is not None:
            where.append(KnowledgeDocumentRow.source == source)
        async with self._db.sessions() as s:
            total = await s.scalar(
                select(func.count()).select_from(KnowledgeDocumentRow).where(*where)
            )
            rows = await s.scalars(
                select(KnowledgeDocumentRow)
                .where(*where)
                .order_by(KnowledgeDocumentRow.name)
                .limit(limit)
                .offset(offset)
            )
            return Page(total=int(total or 0), items=[_document(r) for r in rows])

    async def counts(self) -> dict[str, tuple[int, int]]:
        """knowledge -> (documents, chunks)."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(
                    KnowledgeDocumentRow.knowledge,
                    func.count(),
                    func.coalesce(func.sum(KnowledgeDocumentRow.chunk_count), 0),
                ).group_by(KnowledgeDocumentRow.knowledge)
            )
            return {k: (int(d), int(c)) for k, d, c in rows}

    async def search(self, knowledge: str, query: str, limit: int) -> list[Hit]:
        """The best chunks for `query` in `knowledge`, best first: any of the query's words
        may match; more, rarer and closer matches rank higher."""
        terms = search_terms(query)
        if not terms:
            return []
        if self._db.dialect == "postgresql":
            tsquery = " | ".join(f"'{t}'" for t in terms)  # words only: \w+, quoted
            statement = text(
                "SELECT c.document_id, d.name, c.ordinal, c.content, "
                "ts_rank(c.tsv, q) AS score "
                "FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id, "
                "to_tsquery('english', :q) q "
                "WHERE c.knowledge = :knowledge AND c.tsv @@ q "
                "ORDER BY score DESC, d.name, c.ordinal LIMIT :limit"
            )
            params = {"q": tsquery, "knowledge": knowledge, "limit": limit}
        else:
            match = " OR ".join(f'"{t}"' for t in terms)  # each word a quoted phrase
            statement = text(
                "SELECT c.document_id, d.name, c.ordinal, c.content, "
                "-bm25(knowledge_fts) AS score "
                "FROM knowledge_fts JOIN knowledge_chunks c ON c.id = knowledge_fts.rowid "
                "JOIN knowledge_documents d ON d.id = c.document_id "
                "WHERE knowledge_fts MATCH :q AND c.knowledge = :knowledge "
                "ORDER BY score DESC, d.name, c.ordinal LIMIT :limit"
            )
            params = {"q": match, "knowledge": knowledge, "limit": limit}
        async with self._db.sessions() as s:
            rows = await s.execute(statement, params)
            return [Hit(d, n, int(o), c, float(sc)) for d, n, o, c, sc in rows]
