"""`/api/config`: every component, with validation, masking and change history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from agio.api.auth import allow
from agio.api.deps import ComponentName, ComponentsDep, Offset
from agio.api.schemas.common import error_responses
from agio.api.schemas.config import (
    ComponentDetail,
    ConfigHistory,
    ConfigList,
    ConfigPut,
    ConfigPutResult,
    ConfigSummary,
    HistoryEntry,
    component_detail,
)
from agio.config.components import ComponentType
from agio.domain.security import Permission, Principal

router = APIRouter(prefix="/api/config", tags=["config"], responses=error_responses(401, 403, 429))

Reader = Annotated[Principal, allow(Permission.READ_CONFIG)]
Writer = Annotated[Principal, allow(Permission.WRITE_CONFIG)]
Deleter = Annotated[Principal, allow(Permission.DELETE_CONFIG)]


@router.get("", response_model=ConfigList, summary="List components")
async def list_components(
    _: Reader,
    components: ComponentsDep,
    type: Annotated[ComponentType | None, Query(description="Only this type.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ConfigList:
    page = await components.list_components(type, limit=limit, offset=offset)
    return ConfigList(
        total=page.total,
        configs=[ConfigSummary.from_stored(s) for s in page.items],
        limit=limit,
        offset=offset,
        has_more=offset + len(page.items) < page.total,
    )


@router.get(
    "/{component_name}",
    response_model=ComponentDetail,
    summary="Get a component",
    responses=error_responses(404),
)
async def get_component(component_name: ComponentName, components: ComponentsDep, _: Reader) -> Any:
    return component_detail(await components.get(component_name))


@router.put(
    "/{component_name}",
    response_model=ConfigPutResult,
    summary="Create or update a component",
    responses={
        201: {"model": ConfigPutResult, "description": "Created"},
        **error_responses(409),
    },
)
async def put_component(
    component_name: ComponentName,
    body: ConfigPut,
    components: ComponentsDep,
    who: Writer,
    response: Response,
) -> ConfigPutResult:
    result = await components.put(
        component_name, body.config, validate_only=body.validate_only, actor=who.subject
    )
    if result.validated_only:
        what = "would be created" if result.created else "would be updated"
        message = f"Configuration of '{component_name}' is valid; it {what} (nothing saved)"
    else:
        what = "created" if result.created else "updated"
        message = f"Component '{component_name}' {what}"
        if result.created:
            response.status_code = status.HTTP_201_CREATED
    return ConfigPutResult(
        success=True,
        message=message,
        created=result.created,
        validate_only=result.validated_only,
        revision=result.component.revision if result.component else None,
    )


@router.delete(
    "/{component_name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a component",
    responses=error_responses(404, 409),
    response_class=Response,
)
async def delete_component(
    component_name: ComponentName, components: ComponentsDep, who: Deleter
) -> Response:
    await components.delete(component_name, actor=who.subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{component_name}/history",
    response_model=ConfigHistory,
    summary="A component's change history, oldest first",
    responses=error_responses(404),
)
async def component_history(
    component_name: ComponentName, components: ComponentsDep, _: Reader
) -> ConfigHistory:
    entries = await components.history(component_name)
    return ConfigHistory(
        component_name=component_name,
        history=[
            HistoryEntry(
                change_type=e.change_type,
                timestamp=e.timestamp,
                old_config=e.old_config,
                new_config=e.new_config,
                actor=e.actor,
                revision=e.revision,
            )
            for e in entries
        ],
    )
