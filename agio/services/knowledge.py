"""Knowledge components: their documents read, split and indexed; search (full text,
vector or hybrid); and the `search_knowledge` tool that agents naming a knowledge
component get.

Files (`.md`, `.markdown`, `.txt`, `.html`, `.htm`, `.pdf`) come from the component's
`paths`, relative to the configs folder; they are indexed at start-up and again whenever
the folder changes (only files whose text changed, by digest; files gone are dropped).
Documents added (or uploaded) through the API are kept until removed through the API.
With an `embedding` model, chunks are also embedded (`knowledge_embedding.py`) and a
hybrid search merges the full-text and the vector ranking by reciprocal rank fusion.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import BaseModel, Field

from agio.config.components import KnowledgeComponent
from agio.domain.errors import (
    AgioError,
    ComponentNotFound,
    PayloadTooLarge,
    UnreadableDocument,
    ValidationFailed,
)
from agio.domain.knowledge import reciprocal_rank_fusion
from agio.services.documents import SUFFIXES, kind_of, plain_text, text_of
from agio.services.knowledge_embedding import KnowledgeEmbedder
from agio.storage.components import ComponentRepository
from agio.storage.knowledge import Document, Hit, KnowledgeRepository

log = structlog.get_logger(__name__)

__all__ = ["KnowledgeSearchTool", "KnowledgeService", "plain_text", "split"]

CONTENT_TYPES = ("markdown", "text", "html")
MAX_FILE_BYTES = 5_000_000
SearchMode = Literal["fulltext", "vector", "hybrid"]
#: candidates each ranking brings to a hybrid search, at least (more for a larger top_k)
HYBRID_CANDIDATES = 20


def split(text: str, size: int, overlap: int) -> list[str]:
    """Chunks of at most `size` characters: whole paragraphs where they fit (a markdown
    heading always starts a new chunk), long paragraphs cut at a word boundary; after a
    cut, the next chunk starts with the last `overlap` characters of the one before, so
    that a sentence across the cut is found from both sides."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    chunks: list[str] = []
    current = ""
    for paragraph in paragraphs:
        heading = paragraph.startswith("#")  # a markdown section starts a chunk of its own
        if current and not heading and len(current) + 2 + len(paragraph) <= size:
            current = f"{current}\n\n{paragraph}"
            continue
        if current:
            chunks.append(current)
        while len(paragraph) > size:
            cut = paragraph.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            chunks.append(paragraph[:cut].strip())
            tail = paragraph[max(0, cut - overlap) : cut]
            start = tail.find(" ") + 1 if " " in tail else 0
            paragraph = (tail[start:] + paragraph[cut:]).strip()
        current = paragraph
    if current:
        chunks.append(current)
    return chunks


class SearchArgs(BaseModel):
    query: str = Field(min_length=1, max_length=2000, description="What to look for.")


class KnowledgeSearchTool:
    """The `search_knowledge` tool of an agent that names a knowledge component."""

    def __init__(self, service: KnowledgeService, knowledge: str, top_k: int) -> None:
        self.service = service
        self.knowledge = knowledge
        self.top_k = top_k
        self.name = "search_knowledge"
        self.description = (
            f"Search the '{knowledge}' knowledge base; returns the most relevant passages "
            "with the document each comes from."
        )
        self.parameters: dict[str, Any] = SearchArgs.model_json_schema()
        self.timeout = 30.0  # a search may first embed chunks that have no vector yet

    async def run(self, arguments: dict[str, Any]) -> Any:
        args = SearchArgs.model_validate(arguments)
        hits = await self.service.search(self.knowledge, args.query, self.top_k)
        return {
            "query": args.query,
            "results": [
                {"document": h.document, "content": h.content, "score": round(h.score, 4)}
                for h in hits
            ],
        }


class KnowledgeService:
    def __init__(
        self,
        repo: KnowledgeRepository,
        components: ComponentRepository,
        configs_dir: Path,
        embedder: KnowledgeEmbedder | None = None,
        *,
        max_upload_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        self.repo = repo
        self.components = components
        self.configs_dir = configs_dir
        self.embedder = embedder
        self.max_upload_bytes = max_upload_bytes
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Stop the background embedding (what it had stored stays; the rest is embedded
        on the next search)."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until the background embedding started so far has ended."""
        await asyncio.gather(*self._background, return_exceptions=True)

    async def component(self, name: str) -> KnowledgeComponent:
        stored = await self.components.get(name, "knowledge")
        if stored is None:
            raise ComponentNotFound(name)
        return KnowledgeComponent.model_validate(stored.config)

    async def list_components(self) -> list[KnowledgeComponent]:
        page = await self.components.list_page(type_="knowledge")
        return [KnowledgeComponent.model_validate(s.config) for s in page.items]

    # ------------------------------------------------------------------ files

    def _files(self, component: KnowledgeComponent) -> dict[str, Path]:
        found: dict[str, Path] = {}
        root = self.configs_dir.resolve()
        for entry in component.paths:
            base = (root / entry).resolve()
            if not base.is_relative_to(root):
                log.warning("knowledge_path_outside_configs", knowledge=component.name)
                continue
            candidates = [base] if base.is_file() else sorted(base.rglob("*"))
            for path in candidates:
                if path.is_file() and path.suffix.lower() in SUFFIXES:
                    found[path.relative_to(root).as_posix()] = path
        return found

    async def sync_files(self, component: KnowledgeComponent, *, force: bool = False) -> int:
        """Index the component's files that changed (all with `force`), drop the ones gone.
        Returns how many documents were (re)indexed."""
        files = self._files(component)
        changed = 0
        for name, path in files.items():
            if path.stat().st_size > MAX_FILE_BYTES:
                log.warning("knowledge_file_too_large", knowledge=component.name, file=name)
                continue
            kind = SUFFIXES[path.suffix.lower()]
            data = await asyncio.to_thread(path.read_bytes)
            try:
                if kind == "pdf":
                    raw = await asyncio.to_thread(text_of, data, name, kind)
                else:
                    raw = data.decode("utf-8", "replace")
            except UnreadableDocument as exc:
                log.warning("knowledge_file_unreadable", knowledge=component.name, reason=str(exc))
                continue
            if await self._put(component, name, raw, kind, "file", force, size=len(data)):
                changed += 1
        existing = await self.repo.list_documents(component.name, limit=100_000, source="file")
        for document in existing.items:
            if document.name not in files:
                await self.repo.delete_document(document.id)
                changed += 1
        return changed

    async def sync_all(self) -> None:
        """Every knowledge component's files (after the configs were loaded or changed);
        then, in the background, the chunks that need vectors of their embedding model."""
        async with self._lock:
            components = await self.list_components()
            for component in components:
                try:
                    count = await self.sync_files(component)
                except Exception:
                    log.exception("knowledge_sync_failed", knowledge=component.name)
                    continue
                if count:
                    log.info("knowledge_indexed", knowledge=component.name, documents=count)
        for component in components:
            if component.embedding:
                self._embed_later(component)

    def _embed_later(self, component: KnowledgeComponent) -> None:
        task = asyncio.get_running_loop().create_task(self._embed_quietly(component))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _embed_quietly(self, component: KnowledgeComponent) -> None:
        """Embed what needs it; a failure is logged (the next search tries again)."""
        if self.embedder is None or component.embedding is None:
            return
        try:
            await self.embedder.embed_missing(component)
        except AgioError as exc:
            log.warning("knowledge_embedding_failed", knowledge=component.name, reason=exc.message)
        except Exception:
            log.exception("knowledge_embedding_failed", knowledge=component.name)

    async def _put(
        self,
        component: KnowledgeComponent,
        name: str,
        raw: str,
        content_type: str,
        source: str,
        force: bool = False,
        *,
        size: int | None = None,
    ) -> bool:
        text = plain_text(raw, content_type)
        digest = hashlib.sha256(
            f"{component.chunk_size}:{component.chunk_overlap}:{text}".encode()
        ).hexdigest()
        if force:
            digest = "!" + digest[1:]  # differs from what is stored: indexed again
        chunks = split(text, component.chunk_size, component.chunk_overlap)
        _, changed = await self.repo.put_document(
            component.name,
            name,
            source=source,
            content_type=content_type,
            digest=digest,
            size=len(raw.encode()) if size is None else size,
            chunks=chunks,
        )
        return changed

    # ------------------------------------------------------------------ the API's

    async def _check_name(self, knowledge: str, name: str) -> None:
        existing = await self.repo.list_documents(knowledge, limit=100_000, source="file")
        if any(d.name == name for d in existing.items):
            raise ValidationFailed(
                f"'{name}' is a file of this knowledge base; change the file instead",
                details=[
                    {"loc": ["body", "name"], "msg": "taken by a file", "type": "value_error"}
                ],
            )

    async def add_document(
        self, knowledge: str, name: str, content: str, content_type: str
    ) -> Document:
        component = await self.component(knowledge)
        if content_type not in CONTENT_TYPES:
            raise ValidationFailed(f"content_type must be one of {', '.join(CONTENT_TYPES)}")
        await self._check_name(knowledge, name)
        if await self._put(component, name, content, content_type, "api"):
            await self._embed_quietly(component)
        return await self._stored(knowledge, name)

    async def upload(
        self, knowledge: str, filename: str, media_type: str | None, data: bytes, name: str
    ) -> Document:
        """Add (or replace) the document `name` from an uploaded file: text, Markdown,
        HTML or PDF (415 for anything else, 422 when its text cannot be read)."""
        component = await self.component(knowledge)
        if len(data) > self.max_upload_bytes:
            raise PayloadTooLarge(
                f"'{filename}' is larger than {self.max_upload_bytes} bytes (AGIO_MAX_UPLOAD_BYTES)"
            )
        kind = kind_of(filename, media_type)
        await self._check_name(knowledge, name)
        raw = await asyncio.to_thread(text_of, data, filename, kind)
        if not plain_text(raw, kind):
            raise UnreadableDocument(f"'{filename}' has no text")
        if await self._put(component, name, raw, kind, "api", size=len(data)):
            await self._embed_quietly(component)
        return await self._stored(knowledge, name)

    async def _stored(self, knowledge: str, name: str) -> Document:
        page = await self.repo.list_documents(knowledge, limit=100_000)
        return next(d for d in page.items if d.name == name)

    async def reindex(self, knowledge: str) -> int:
        component = await self.component(knowledge)
        async with self._lock:
            count = await self.sync_files(component, force=True)
        if self.embedder is not None and component.embedding:
            await self.embedder.embed_missing(component)
        return count

    async def search(
        self,
        knowledge: str,
        query: str,
        top_k: int | None = None,
        mode: SearchMode | None = None,
    ) -> list[Hit]:
        """The best chunks for `query`: by full text, by vector, or both merged by
        reciprocal rank fusion (`hybrid`); `mode` defaults to the component's."""
        component = await self.component(knowledge)
        limit = top_k or component.top_k
        mode = mode or component.default_mode
        if mode == "fulltext":
            return await self.repo.search(knowledge, query, limit)
        if self.embedder is None or component.embedding is None:
            raise ValidationFailed(
                f"knowledge '{knowledge}' names no embedding model: search it with "
                "mode 'fulltext' (or give the component an `embedding` model)",
                details=[
                    {
                        "loc": ["body", "mode"],
                        "msg": "needs an embedding model",
                        "type": "value_error",
                    }
                ],
            )
        if mode == "vector":
            return await self.embedder.search(component, query, limit)
        candidates = max(HYBRID_CANDIDATES, 3 * limit)
        by_vector = await self.embedder.search(component, query, candidates)
        by_text = await self.repo.search(knowledge, query, candidates)
        return reciprocal_rank_fusion([by_text, by_vector], limit)
