"""Knowledge components: their documents read, split and indexed; search; and the
`search_knowledge` tool that agents naming a knowledge component get.

Files (`.md`, `.txt`, `.html`, `.htm`) come from the component's `paths`, relative to the
configs folder; they are indexed at start-up and again whenever the folder changes (only
files whose text changed, by digest; files gone are dropped). Documents added through the
API are kept until removed through the API.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, Field

from agio.config.components import KnowledgeComponent
from agio.domain.errors import ComponentNotFound, ValidationFailed
from agio.storage.components import ComponentRepository
from agio.storage.knowledge import Document, Hit, KnowledgeRepository

log = structlog.get_logger(__name__)

SUFFIXES = {".md": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
CONTENT_TYPES = ("markdown", "text", "html")
MAX_FILE_BYTES = 5_000_000


class _TextOf(HTMLParser):
    """The visible text of an HTML document (no scripts or styles), with block breaks."""

    _SKIP = {"script", "style", "head", "template", "noscript"}
    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def plain_text(content: str, content_type: str) -> str:
    if content_type == "html":
        parser = _TextOf()
        parser.feed(content)
        parser.close()
        content = html.unescape("".join(parser.parts))
    content = content.replace("\r\n", "\n")
    content = re.sub(r"[ \t]+", " ", content)
    return re.sub(r"\n{3,}", "\n\n", content).strip()


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
        self.timeout = 10.0

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
        self, repo: KnowledgeRepository, components: ComponentRepository, configs_dir: Path
    ) -> None:
        self.repo = repo
        self.components = components
        self.configs_dir = configs_dir
        self._lock = asyncio.Lock()

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
            raw = await asyncio.to_thread(path.read_text, "utf-8", "replace")
            if await self._put(component, name, raw, SUFFIXES[path.suffix.lower()], "file", force):
                changed += 1
        existing = await self.repo.list_documents(component.name, limit=100_000, source="file")
        for document in existing.items:
            if document.name not in files:
                await self.repo.delete_document(document.id)
                changed += 1
        return changed

    async def sync_all(self) -> None:
        """Every knowledge component's files (after the configs were loaded or changed)."""
        async with self._lock:
            for component in await self.list_components():
                try:
                    count = await self.sync_files(component)
                except Exception:
                    log.exception("knowledge_sync_failed", knowledge=component.name)
                    continue
                if count:
                    log.info("knowledge_indexed", knowledge=component.name, documents=count)

    async def _put(
        self,
        component: KnowledgeComponent,
        name: str,
        raw: str,
        content_type: str,
        source: str,
        force: bool = False,
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
            size=len(raw.encode()),
            chunks=chunks,
        )
        return changed

    # ------------------------------------------------------------------ the API's

    async def add_document(
        self, knowledge: str, name: str, content: str, content_type: str
    ) -> Document:
        component = await self.component(knowledge)
        if content_type not in CONTENT_TYPES:
            raise ValidationFailed(f"content_type must be one of {', '.join(CONTENT_TYPES)}")
        existing = await self.repo.list_documents(knowledge, limit=100_000, source="file")
        if any(d.name == name for d in existing.items):
            raise ValidationFailed(
                f"'{name}' is a file of this knowledge base; change the file instead",
                details=[
                    {"loc": ["body", "name"], "msg": "taken by a file", "type": "value_error"}
                ],
            )
        await self._put(component, name, content, content_type, "api")
        page = await self.repo.list_documents(knowledge, limit=100_000)
        return next(d for d in page.items if d.name == name)

    async def reindex(self, knowledge: str) -> int:
        component = await self.component(knowledge)
        async with self._lock:
            return await self.sync_files(component, force=True)

    async def search(self, knowledge: str, query: str, top_k: int | None = None) -> list[Hit]:
        component = await self.component(knowledge)
        return await self.repo.search(knowledge, query, top_k or component.top_k)
