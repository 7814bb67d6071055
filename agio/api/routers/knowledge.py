"""`/api/knowledge`: knowledge bases (knowledge components), their documents, search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from agio.api.auth import allow
from agio.api.deps import ComponentName, ContainerDep, Limit, Offset
from agio.api.schemas.common import Paginated, error_responses
from agio.api.schemas.knowledge import (
    DocumentCreate,
    DocumentOut,
    KnowledgeBase,
    KnowledgeList,
    ReindexResponse,
    SearchHit,
    SearchRequest,
    SearchResponse,
)
from agio.domain.errors import Conflict, NotFound
from agio.domain.security import Permission, Principal

router = APIRouter(
    prefix="/api/knowledge", tags=["knowledge"], responses=error_responses(401, 403, 429)
)

Reader = Annotated[Principal, allow(Permission.READ_KNOWLEDGE)]
Writer = Annotated[Principal, allow(Permission.WRITE_KNOWLEDGE)]
DocumentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="A document id.")]


class DocumentNotFound(NotFound):
    type = "DocumentNotFound"

    def __init__(self, document_id: str) -> None:
        super().__init__(f"Document '{document_id}' not found")


@router.get("", response_model=KnowledgeList, summary="Knowledge bases with their sizes")
async def list_knowledge(container: ContainerDep, _: Reader) -> KnowledgeList:
    counts = await container.knowledge.repo.counts()
    return KnowledgeList(
        items=[
            KnowledgeBase(
                name=c.name,
                description=c.description,
                paths=c.paths,
                documents=counts.get(c.name, (0, 0))[0],
                chunks=counts.get(c.name, (0, 0))[1],
                chunk_size=c.chunk_size,
                chunk_overlap=c.chunk_overlap,
                top_k=c.top_k,
            )
            for c in await container.knowledge.list_components()
        ]
    )


@router.get(
    "/{component_name}/documents",
    response_model=Paginated[DocumentOut],
    summary="A knowledge base's documents",
    responses=error_responses(404),
)
async def list_documents(
    component_name: ComponentName,
    container: ContainerDep,
    _: Reader,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Paginated[DocumentOut]:
    await container.knowledge.component(component_name)
    page = await container.knowledge.repo.list_documents(component_name, limit=limit, offset=offset)
    items = [DocumentOut.from_document(d) for d in page.items]
    return Paginated[DocumentOut].of(items, page.total, limit, offset)


@router.post(
    "/{component_name}/documents",
    response_model=DocumentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add (or replace) a document; it is searchable when this returns",
    responses=error_responses(404),
)
async def add_document(
    component_name: ComponentName, body: DocumentCreate, container: ContainerDep, _: Writer
) -> DocumentOut:
    document = await container.knowledge.add_document(
        component_name, body.name, body.content, body.content_type
    )
    return DocumentOut.from_document(document)


@router.delete(
    "/{component_name}/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a document added through the API",
    responses=error_responses(404, 409),
    response_class=Response,
)
async def delete_document(
    component_name: ComponentName, document_id: DocumentId, container: ContainerDep, _: Writer
) -> Response:
    await container.knowledge.component(component_name)
    document = await container.knowledge.repo.get_document(component_name, document_id)
    if document is None:
        raise DocumentNotFound(document_id)
    if document.source == "file":
        raise Conflict(
            f"'{document.name}' is a file of this knowledge base; delete the file instead"
        )
    await container.knowledge.repo.delete_document(document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{component_name}/reindex",
    response_model=ReindexResponse,
    summary="Read and index the base's files again",
    responses=error_responses(404),
)
async def reindex(
    component_name: ComponentName, container: ContainerDep, _: Writer
) -> ReindexResponse:
    count = await container.knowledge.reindex(component_name)
    return ReindexResponse(knowledge=component_name, documents=count)


@router.post(
    "/{component_name}/search",
    response_model=SearchResponse,
    summary="Full-text search, best passages first",
    responses=error_responses(404),
)
async def search(
    component_name: ComponentName, body: SearchRequest, container: ContainerDep, _: Reader
) -> SearchResponse:
    hits = await container.knowledge.search(component_name, body.query, body.top_k)
    return SearchResponse(
        knowledge=component_name,
        query=body.query,
        results=[
            SearchHit(
                document_id=h.document_id,
                document=h.document,
                ordinal=h.ordinal,
                content=h.content,
                score=h.score,
            )
            for h in hits
        ],
    )
