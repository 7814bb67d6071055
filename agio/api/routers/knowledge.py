"""`/api/knowledge`: knowledge bases (knowledge components), their documents, search."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from agio.api.auth import allow
from agio.api.container import Container
from agio.api.deps import ComponentName, ContainerDep, Limit, Offset
from agio.api.schemas.common import ErrorEnvelope, Paginated, error_responses
from agio.api.schemas.knowledge import (
    UPLOAD_FORM_SCHEMA,
    DocumentCreate,
    DocumentOut,
    KnowledgeBase,
    KnowledgeList,
    ReindexResponse,
    SearchHit,
    SearchRequest,
    SearchResponse,
)
from agio.domain.errors import Conflict, NotFound, UnsupportedMediaType, ValidationFailed
from agio.domain.knowledge import Document
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
                embedding=c.embedding,
                search_mode=c.default_mode,
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


_DOCUMENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentCreate.model_json_schema()},
            "multipart/form-data": {"schema": UPLOAD_FORM_SCHEMA},
        },
    }
}


@router.post(
    "/{component_name}/documents",
    response_model=DocumentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add (or replace) a document, as JSON text or an uploaded file; it is "
    "searchable when this returns",
    responses={
        **error_responses(404, 415, 422, 502),
        413: {
            "model": ErrorEnvelope,
            "description": "The body is larger than AGIO_MAX_BODY_BYTES (JSON) or the file "
            "larger than AGIO_MAX_UPLOAD_BYTES (multipart)",
        },
    },
    openapi_extra=_DOCUMENT_BODY,
)
async def add_document(
    component_name: ComponentName, request: Request, container: ContainerDep, _: Writer
) -> DocumentOut:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        document = await _upload(component_name, request, container)
    elif media_type in ("application/json", ""):
        body = _document_create(await request.body())
        document = await container.knowledge.add_document(
            component_name, body.name, body.content, body.content_type
        )
    else:
        raise UnsupportedMediaType(
            f"send the document as application/json or multipart/form-data, not '{media_type}'"
        )
    return DocumentOut.from_document(document)


def _document_create(raw: bytes) -> DocumentCreate:
    """The JSON body, validated as FastAPI would (422 with the reasons)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error"}]
        ) from None
    try:
        return DocumentCreate.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]}
                for e in exc.errors(include_input=False)
            ]
        ) from None


async def _upload(component_name: str, request: Request, container: Container) -> Document:
    form = await request.form(max_files=1, max_fields=4)
    try:
        upload = form.get("file")
        name = form.get("name")
        unknown = sorted(set(form.keys()) - {"file", "name"})
        if unknown:
            raise _form_error(unknown[0], "extra_forbidden", "Extra inputs are not permitted")
        if not isinstance(upload, UploadFile):
            raise _form_error("file", "missing", "a file is required (a form field `file`)")
        if name is not None and (not isinstance(name, str) or not _valid_name(name)):
            raise _form_error("name", "string_type", "a name of 1 to 512 printable characters")
        filename = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        if name is None and not _valid_name(filename):
            raise _form_error("file", "value_error", "the file needs a name (or send `name`)")
        limit = container.knowledge.max_upload_bytes
        data = await upload.read(limit + 1)
        return await container.knowledge.upload(
            component_name, filename or str(name), upload.content_type, data, name or filename
        )
    finally:
        await form.close()


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= 512 and not any(ord(ch) < 0x20 for ch in name)


def _form_error(field: str, type_: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid request: body.{field}: {message}",
        details=[{"loc": ["body", field], "msg": message, "type": type_}],
    )


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
    summary="Search: full text, vector or hybrid; best passages first",
    responses=error_responses(404, 422, 502),
)
async def search(
    component_name: ComponentName, body: SearchRequest, container: ContainerDep, _: Reader
) -> SearchResponse:
    component = await container.knowledge.component(component_name)
    mode = body.mode or component.default_mode
    hits = await container.knowledge.search(component_name, body.query, body.top_k, mode)
    return SearchResponse(
        knowledge=component_name,
        query=body.query,
        mode=mode,
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
