"""Embedding a knowledge base's chunks with its `embedding` model, and its queries.

A chunk's vector is stored with the fingerprint of the model that made it (endpoint and
model name). The chunks that have no vector of the current fingerprint, new ones and
all of them after the component names another model, are embedded by `embed_missing`:
after a document is indexed, in the background after the configs folder is read, before
every vector or hybrid search (so a search never compares vectors of two models) and on
`POST /api/knowledge/{name}/reindex`. Across processes this is safe without a lock: a
vector is keyed by its chunk, written only while the chunk exists, and the same chunk
embedded twice by the same model stores the same vector; within a process one pass per
knowledge base runs at a time.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
import structlog

from agio.config.components import KnowledgeComponent, ModelComponent
from agio.domain.errors import EmbeddingUnavailable, InvalidConfig
from agio.domain.knowledge import Hit
from agio.models.embeddings import EmbeddingFailed, OpenAIEmbeddings
from agio.storage.components import ComponentRepository
from agio.storage.knowledge_vectors import KnowledgeVectorRepository

log = structlog.get_logger(__name__)

#: chunks read per pass of `embed_missing` (then embedded in the component's batches)
PASS_CHUNKS = 512


class KnowledgeEmbedder:
    def __init__(
        self,
        vectors: KnowledgeVectorRepository,
        components: ComponentRepository,
        client: httpx.AsyncClient,
    ) -> None:
        self.vectors = vectors
        self.components = components
        self.client = client
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def model_for(self, knowledge: KnowledgeComponent) -> OpenAIEmbeddings | None:
        """The embeddings client of the knowledge's `embedding` model (None: it names none)."""
        if knowledge.embedding is None:
            return None
        stored = await self.components.get(knowledge.embedding, "model", cached=True)
        if stored is None:
            raise InvalidConfig(
                f"knowledge '{knowledge.name}' names the embedding model "
                f"'{knowledge.embedding}', which does not exist"
            )
        model = ModelComponent.model_validate(stored.config)
        try:
            return OpenAIEmbeddings(model, self.client, batch_size=knowledge.embedding_batch_size)
        except ValueError as exc:
            raise InvalidConfig(f"knowledge '{knowledge.name}': {exc}") from None

    async def embed_missing(self, knowledge: KnowledgeComponent) -> int:
        """Embed every chunk without a vector of the current model; how many were sent."""
        model = await self.model_for(knowledge)
        if model is None:
            return 0
        sent = 0
        async with self._locks[knowledge.name]:
            while True:
                todo = await self.vectors.missing(knowledge.name, model.fingerprint, PASS_CHUNKS)
                if not todo:
                    break
                try:
                    vectors = await model.embed([content for _, content in todo])
                except EmbeddingFailed as exc:
                    raise EmbeddingUnavailable(str(exc)) from None
                await self.vectors.store(
                    knowledge.name,
                    model.fingerprint,
                    [
                        (chunk_id, vector)
                        for (chunk_id, _), vector in zip(todo, vectors, strict=True)
                    ],
                )
                sent += len(todo)
        if sent:
            log.info("knowledge_embedded", knowledge=knowledge.name, chunks=sent, model=model.name)
        return sent

    async def search(self, knowledge: KnowledgeComponent, query: str, limit: int) -> list[Hit]:
        """The chunks nearest the query by the knowledge's embedding model (whose vectors
        are brought up to date first)."""
        model = await self.model_for(knowledge)
        if model is None:
            return []
        await self.embed_missing(knowledge)
        try:
            [vector] = await model.embed([query])
        except EmbeddingFailed as exc:
            raise EmbeddingUnavailable(str(exc)) from None
        return await self.vectors.search(knowledge.name, model.fingerprint, vector, limit)
