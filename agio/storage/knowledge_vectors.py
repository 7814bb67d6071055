"""Knowledge vectors: stored per chunk with the fingerprint of the model that made them,
and nearest chunks by cosine similarity (vectors are unit length: the dot product).

How a search ranks, by database (`backend()`):

- SQLite with sqlite-vec loaded (`sqlite_vec_loader`): `vec_distance_cosine` in SQL;
- SQLite without it: an exact scan in Python over the knowledge's vectors;
- PostgreSQL with the `vector` extension (pgvector): `<=>` on the arrays cast to `vector`;
- PostgreSQL without it: an exact scan in SQL (`unnest` of both arrays, summed).

Every way is exact (no approximate index): the right choice up to some hundred thousand
chunks per knowledge base, which is what a knowledge component of an agent holds.
"""

from __future__ import annotations

import array
import heapq
import sys
from collections.abc import Sequence
from typing import Literal

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from agio.domain.knowledge import Hit
from agio.storage.database import Database
from agio.storage.tables import KnowledgeChunkRow, KnowledgeDocumentRow
from agio.storage.tables_knowledge_vectors import KnowledgeVectorRow

VectorBackend = Literal["sqlite-vec", "python", "pgvector", "sql"]


def to_blob(vector: Sequence[float]) -> bytes:
    """float32, little-endian: sqlite-vec's own format."""
    values = array.array("f", vector)
    if sys.byteorder != "little":  # pragma: no cover (every supported machine is)
        values.byteswap()
    return values.tobytes()


def from_blob(blob: bytes) -> array.array[float]:
    values = array.array("f")
    values.frombytes(blob)
    if sys.byteorder != "little":  # pragma: no cover
        values.byteswap()
    return values


class KnowledgeVectorRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._backend: VectorBackend | None = None

    async def backend(self) -> VectorBackend:
        """How this database ranks vectors (found out once)."""
        if self._backend is None:
            self._backend = await self._probe()
        return self._backend

    async def _probe(self) -> VectorBackend:
        async with self._db.sessions() as s:
            if self._db.dialect == "postgresql":
                found = await s.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))
                return "pgvector" if found else "sql"
            try:
                await s.execute(text("SELECT vec_version()"))
            except DBAPIError:
                return "python"
            return "sqlite-vec"

    def use_backend(self, backend: VectorBackend) -> None:
        """Rank another way (tests compare the ways on one database)."""
        self._backend = backend

    async def missing(self, knowledge: str, fingerprint: str, limit: int) -> list[tuple[int, str]]:
        """(chunk id, content) of chunks with no vector of `fingerprint`, oldest first."""
        current = (
            select(KnowledgeVectorRow.chunk_id)
            .where(
                KnowledgeVectorRow.chunk_id == KnowledgeChunkRow.id,
                KnowledgeVectorRow.fingerprint == fingerprint,
            )
            .exists()
        )
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(KnowledgeChunkRow.id, KnowledgeChunkRow.content)
                .where(KnowledgeChunkRow.knowledge == knowledge, ~current)
                .order_by(KnowledgeChunkRow.id)
                .limit(limit)
            )
            return [(int(i), str(c)) for i, c in rows]

    async def store(
        self, knowledge: str, fingerprint: str, vectors: Sequence[tuple[int, Sequence[float]]]
    ) -> int:
        """Store the vectors of chunks that still exist (a chunk replaced or removed while it
        was embedded is skipped), replacing their older ones. Returns how many were stored.
        Storing the same vectors twice (two processes embedding at once) changes nothing."""
        if not vectors:
            return 0
        by_id = dict(vectors)
        async with self._db.write_sessions() as s, s.begin():
            # the chunks, locked on PostgreSQL so that none goes before the insert
            alive = set(
                await s.scalars(
                    select(KnowledgeChunkRow.id)
                    .where(KnowledgeChunkRow.id.in_(list(by_id)))
                    .with_for_update()
                )
            )
            if not alive:
                return 0
            await s.execute(
                delete(KnowledgeVectorRow).where(KnowledgeVectorRow.chunk_id.in_(alive))
            )
            postgres = self._db.dialect == "postgresql"
            await s.execute(
                insert(KnowledgeVectorRow),
                [
                    {
                        "chunk_id": chunk_id,
                        "knowledge": knowledge,
                        "fingerprint": fingerprint,
                        "dimensions": len(by_id[chunk_id]),
                        "embedding": list(by_id[chunk_id])
                        if postgres
                        else to_blob(by_id[chunk_id]),
                    }
                    for chunk_id in sorted(alive)
                ],
            )
            return len(alive)

    async def counts(self, knowledge: str, fingerprint: str) -> tuple[int, int]:
        """(chunks with a vector of `fingerprint`, chunks) of a knowledge base."""
        async with self._db.sessions() as s:
            chunks = await s.scalar(
                select(func.count())
                .select_from(KnowledgeChunkRow)
                .where(KnowledgeChunkRow.knowledge == knowledge)
            )
            embedded = await s.scalar(
                select(func.count())
                .select_from(KnowledgeVectorRow)
                .where(
                    KnowledgeVectorRow.knowledge == knowledge,
                    KnowledgeVectorRow.fingerprint == fingerprint,
                )
            )
            return int(embedded or 0), int(chunks or 0)

    async def search(
        self, knowledge: str, fingerprint: str, query: Sequence[float], limit: int
    ) -> list[Hit]:
        """The chunks nearest `query` (a unit vector), best first; `score` is the cosine
        similarity. Only vectors of `fingerprint` and of the query's length count."""
        backend = await self.backend()
        if backend == "python":
            return await self._search_in_python(knowledge, fingerprint, query, limit)
        params: dict[str, object] = {
            "knowledge": knowledge,
            "fingerprint": fingerprint,
            "dimensions": len(query),
            "limit": limit,
        }
        if backend == "sqlite-vec":
            score = "1 - vec_distance_cosine(v.embedding, :q)"
            params["q"] = to_blob(query)
        elif backend == "pgvector":
            score = "1 - (CAST(v.embedding AS vector) <=> CAST(CAST(:q AS real[]) AS vector))"
            params["q"] = list(query)
        else:
            score = "(SELECT sum(a * b) FROM unnest(v.embedding, CAST(:q AS real[])) AS t(a, b))"
            params["q"] = list(query)
        statement = text(
            f"SELECT c.document_id, d.name, c.ordinal, c.content, {score} AS score "  # noqa: S608 (constants)
            "FROM knowledge_vectors v JOIN knowledge_chunks c ON c.id = v.chunk_id "
            "JOIN knowledge_documents d ON d.id = c.document_id "
            "WHERE v.knowledge = :knowledge AND v.fingerprint = :fingerprint "
            "AND v.dimensions = :dimensions "
            "ORDER BY score DESC, d.name, c.ordinal LIMIT :limit"
        )
        async with self._db.sessions() as s:
            rows = await s.execute(statement, params)
            return [Hit(d, n, int(o), c, float(sc)) for d, n, o, c, sc in rows]

    async def _search_in_python(
        self, knowledge: str, fingerprint: str, query: Sequence[float], limit: int
    ) -> list[Hit]:
        q = list(query)
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(KnowledgeVectorRow.chunk_id, KnowledgeVectorRow.embedding).where(
                    KnowledgeVectorRow.knowledge == knowledge,
                    KnowledgeVectorRow.fingerprint == fingerprint,
                    KnowledgeVectorRow.dimensions == len(q),
                )
            )
            scored = [
                (sum(a * b for a, b in zip(from_blob(blob), q, strict=True)), int(chunk_id))
                for chunk_id, blob in rows
            ]
            best = heapq.nlargest(limit, scored)
            if not best:
                return []
            found = await s.execute(
                select(
                    KnowledgeChunkRow.id,
                    KnowledgeChunkRow.document_id,
                    KnowledgeDocumentRow.name,
                    KnowledgeChunkRow.ordinal,
                    KnowledgeChunkRow.content,
                )
                .join(
                    KnowledgeDocumentRow, KnowledgeDocumentRow.id == KnowledgeChunkRow.document_id
                )
                .where(KnowledgeChunkRow.id.in_([chunk_id for _, chunk_id in best]))
            )
            chunks = {int(row[0]): row[1:] for row in found}
        hits = [
            Hit(str(d), str(n), int(o), str(c), float(score))
            for score, chunk_id in best
            if chunk_id in chunks
            for d, n, o, c in [chunks[chunk_id]]
        ]
        hits.sort(key=lambda h: (-h.score, h.document, h.ordinal))
        return hits
